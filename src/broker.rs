//! Broker connection options from [`MqttConfig`]: credentials, TLS with a custom CA, keep-alive.
//! Shared by ingest and by the `simulate` publisher, so it sits below both.

use std::time::Duration;

use anyhow::Context;
use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use secrecy::ExposeSecret;

use crate::config::MqttConfig;

/// Builds client options for `client_id`. `clean_session = false` asks the broker to keep the
/// session (subscriptions and queued QoS 1 messages) while the client is away.
///
/// # Errors
/// When the TLS CA file cannot be read.
pub fn mqtt_options(
    cfg: &MqttConfig,
    client_id: &str,
    clean_session: bool,
) -> anyhow::Result<MqttOptions> {
    let mut opts = MqttOptions::new(client_id, &cfg.host, cfg.port);
    opts.set_keep_alive(Duration::from_secs(cfg.keep_alive_secs))
        .set_clean_session(clean_session)
        .set_max_packet_size(cfg.max_packet_bytes, cfg.max_packet_bytes);
    if let Some(user) = &cfg.username {
        let password = cfg
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_string())
            .unwrap_or_default();
        opts.set_credentials(user, password);
    }
    if cfg.tls.enabled {
        let transport = match &cfg.tls.ca_file {
            Some(path) => {
                let ca = std::fs::read(path)
                    .with_context(|| format!("reading mqtt.tls.ca_file {}", path.display()))?;
                Transport::Tls(TlsConfiguration::Simple {
                    ca,
                    alpn: None,
                    client_auth: None,
                })
            }
            None => Transport::tls_with_default_config(),
        };
        opts.set_transport(transport);
    }
    Ok(opts)
}
