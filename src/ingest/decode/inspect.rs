//! What an engineer needs when a logger's data do not arrive: every packet in some bytes,
//! described as JSON — the verdict (ok, or the rejection reason), the CRC given and computed and
//! which variant matched, the header fields, and the decoded values with their flags. Used by
//! `greenmon hj212 decode`. Registry checks (is the MN registered, is the password right) need
//! the database and are not made here.
//!
//! Input: bytes. Output: one `serde_json::Value` per frame, through the `hj212` crate's parser.
//! The JSON rendering is greenmon's (the codec crate has no JSON dependency).

use hj212::{parse_packet, split_frames_with, CpItem, Decimal, Packet, LENIENT_MAX_DATA_LEN};
use serde_json::{json, Map, Value};

/// One JSON object per packet (or per stretch of bytes that is not a packet).
pub fn describe(input: &[u8]) -> Vec<Value> {
    split_frames_with(input, LENIENT_MAX_DATA_LEN)
        .into_iter()
        .map(|frame| match frame {
            Err(e) => json!({
                "verdict": e.code(),
                "detail": e.to_string(),
                "raw": String::from_utf8_lossy(e.raw()),
            }),
            Ok(frame) => match parse_packet(&frame) {
                Err(e) => json!({
                    "verdict": e.code(),
                    "detail": e.to_string(),
                    "length": frame.declared_len,
                    "crc": {"given": frame.crc_hex},
                    "raw": String::from_utf8_lossy(&frame.raw),
                }),
                Ok(p) => packet(&p, frame.declared_len),
            },
        })
        .collect()
}

fn hex(v: Option<u16>) -> Value {
    v.map_or(Value::Null, |v| Value::String(format!("{v:04X}")))
}

fn packet(p: &Packet, length: usize) -> Value {
    let (verdict, detail) = match p.crc.matched {
        Some(_) => ("ok", Value::Null),
        None => (
            "crc_mismatch",
            Value::String("the CRC matches none of hj212, modbus, modbus_swapped".into()),
        ),
    };
    let mut header = Map::new();
    let mut put = |k: &str, v: Option<&str>| {
        if let Some(v) = v {
            header.insert(k.to_string(), Value::String(v.to_string()));
        }
    };
    put("QN", p.qn.as_deref());
    put("ST", Some(&p.st));
    put("CN", Some(&p.cn));
    put("PW", p.pw.as_deref());
    put("MN", Some(&p.mn));
    for (k, v) in &p.extra {
        put(k, Some(v));
    }
    if let Some(f) = p.flag {
        header.insert(
            "Flag".into(),
            json!({
                "raw": f.raw,
                "version": match f.version_bits() { 0 => "HJ/T 212-2005".to_string(), 1 => "HJ 212-2017".to_string(), v => format!("unknown ({v})") },
                "ack_required": f.ack_required(),
                "split": f.split(),
            }),
        );
    }
    if let (Some(n), Some(no)) = (p.pnum, p.pno) {
        header.insert("PNUM".into(), json!(n));
        header.insert("PNO".into(), json!(no));
    }
    json!({
        "verdict": verdict,
        "detail": detail,
        "length": length,
        "crc": {
            "given": hex(p.crc.given),
            "computed": hex(Some(p.crc.computed)),
            "matched": p.crc.matched.map(|m| m.as_str()),
        },
        "header": header,
        "data_time": p.cp.data_time.map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()),
        "values": p.cp.items.iter().map(item).collect::<Vec<_>>(),
        "fields": p.cp.fields.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
        "other_items": p.cp.other_items.iter().map(|(k, v)| (k.clone(), Value::String(v.clone()))).collect::<Map<_, _>>(),
    })
}

fn item(i: &CpItem) -> Value {
    let mut m = Map::new();
    m.insert("code".into(), Value::String(i.code.to_string()));
    if i.original_code != i.code.as_str() {
        m.insert(
            "original_code".into(),
            Value::String(i.original_code.clone()),
        );
    }
    let mut num = |k: &str, v: &Option<Decimal>| {
        if let Some(d) = v {
            // Exact decimal text, as received.
            m.insert(k.into(), Value::String(d.as_str().to_string()));
        }
    };
    num("rtd", &i.rtd);
    num("avg", &i.avg);
    num("min", &i.min);
    num("max", &i.max);
    num("cou", &i.cou);
    num("zs_rtd", &i.zs_rtd);
    num("zs_avg", &i.zs_avg);
    num("zs_min", &i.zs_min);
    num("zs_max", &i.zs_max);
    let text = i
        .raw_flag
        .clone()
        .or_else(|| i.flag.map(|f| f.code().to_string()));
    if let Some(f) = text {
        m.insert("flag".into(), Value::String(f));
        m.insert(
            "flag_valid".into(),
            Value::Bool(i.flag.is_some_and(|f| f.is_valid())),
        );
    }
    if let Some(e) = &i.eflag {
        m.insert("eflag".into(), Value::String(e.clone()));
    }
    if let Some(t) = i.sample_time {
        m.insert(
            "sample_time".into(),
            Value::String(t.format("%Y-%m-%d %H:%M:%S").to_string()),
        );
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_the_standard_vector_and_garbage() {
        let input = b"junk ##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&1C80\r\n";
        let out = describe(input);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0]["verdict"], "garbage");
        let p = &out[1];
        assert_eq!(p["verdict"], "ok");
        assert_eq!(p["crc"]["computed"], "1C80");
        assert_eq!(p["crc"]["matched"], "hj212");
        assert_eq!(p["header"]["CN"], "1062");
        assert_eq!(p["header"]["Flag"]["ack_required"], true);
        assert_eq!(p["fields"]["RtdInterval"], "30");
    }

    #[test]
    fn describes_values_and_a_bad_crc() {
        let data = "QN=20160801085000001;ST=32;CN=2051;PW=123456;MN=010000A8900016F000169DC0;Flag=4;CP=&&DataTime=20160801084000;011-Avg=40.10,011-Flag=M&&";
        let frame = format!("##{:04}{data}0000\r\n", data.len());
        let out = describe(frame.as_bytes());
        assert_eq!(out[0]["verdict"], "crc_mismatch");
        let v = &out[0]["values"][0];
        assert_eq!(v["code"], "w01018");
        assert_eq!(v["original_code"], "011");
        assert_eq!(v["avg"], "40.10");
        assert_eq!(v["flag"], "M");
        assert_eq!(v["flag_valid"], false);
    }
}
