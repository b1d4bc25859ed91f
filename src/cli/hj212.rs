//! `greenmon hj212 decode|encode`: HJ 212 packets as an engineer needs to see them, and packets
//! built to order (to test a listener or a logger).

use std::io::{Read, Write};
use std::path::PathBuf;

use anyhow::Context;

use crate::config::Settings;

/// `greenmon hj212 …`.
#[derive(clap::Subcommand)]
pub enum Hj212Command {
    /// Read packets from FILE (or standard input), in any framing the codec accepts, and print
    /// one JSON object per packet: verdict, CRC given/computed/matched, header, values, flags.
    Decode { file: Option<PathBuf> },
    /// Build a packet (## + length + data segment + CRC + CRLF) and print it.
    Encode {
        #[arg(long, default_value = "32")]
        st: String,
        #[arg(long)]
        cn: String,
        #[arg(long)]
        mn: String,
        #[arg(long)]
        pw: Option<String>,
        /// Flag bits: 4 = HJ 212-2017, 5 = 2017 and answer required.
        #[arg(long, default_value_t = 5)]
        flag: u8,
        /// Request id; default: now, as YYYYMMDDhhmmsszzz.
        #[arg(long)]
        qn: Option<String>,
        #[arg(long, requires = "pno")]
        pnum: Option<u32>,
        #[arg(long, requires = "pnum")]
        pno: Option<u32>,
        /// The CP body without the surrounding &&, e.g. "DataTime=20180301084000;w01018-Avg=23.1".
        #[arg(long, default_value = "")]
        cp: String,
        /// CRC variant to write (to test a listener's handling of field devices).
        #[arg(long, default_value = "hj212")]
        crc: hj212::CrcMode,
    },
}

/// Runs one hj212 command.
pub(super) fn run(command: Hj212Command, settings: &Settings) -> anyhow::Result<()> {
    match command {
        Hj212Command::Decode { file } => {
            let mut input = Vec::new();
            match &file {
                Some(path) => {
                    input = std::fs::read(path)
                        .with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    std::io::stdin()
                        .read_to_end(&mut input)
                        .context("reading standard input")?;
                }
            }
            let mut out = std::io::stdout().lock();
            for packet in crate::ingest::decode::inspect::describe(&input) {
                writeln!(out, "{packet}")?;
            }
            Ok(())
        }
        Hj212Command::Encode {
            st,
            cn,
            mn,
            pw,
            flag,
            qn,
            pnum,
            pno,
            cp,
            crc,
        } => {
            let qn = qn.unwrap_or_else(|| {
                chrono::Utc::now()
                    .with_timezone(&settings.timezone())
                    .format("%Y%m%d%H%M%S%3f")
                    .to_string()
            });
            let builder = hj212::PacketBuilder {
                qn: Some(qn),
                st,
                cn,
                pw,
                mn,
                flag: Some(hj212::PacketFlag { raw: flag }),
                pnum,
                pno,
                cp,
                ..Default::default()
            };
            let data = builder.build();
            if data.len() > 9999 {
                anyhow::bail!(
                    "the data segment is {} bytes; at most 9999 fit the length field",
                    data.len()
                );
            }
            print!(
                "##{:04}{data}{:04X}\r\n",
                data.len(),
                crc.compute(data.as_bytes())
            );
            Ok(())
        }
    }
}
