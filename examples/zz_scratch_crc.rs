use std::hint::black_box;
use std::time::Instant;
fn main() {
    let data = vec![b'a'; 580];
    let n = 1_000_000;
    let t = Instant::now();
    let mut x = 0u16;
    for _ in 0..n {
        x ^= greenmon::hj212::crc16_hj212(black_box(&data));
    }
    println!(
        "crc {:.0} ns/580B {x}",
        t.elapsed().as_nanos() as f64 / n as f64
    );
    let t = Instant::now();
    for _ in 0..n {
        x ^= greenmon::hj212::crc16_modbus(black_box(&data));
    }
    println!(
        "modbus {:.0} ns/580B {x}",
        t.elapsed().as_nanos() as f64 / n as f64
    );
}
