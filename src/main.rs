//! The greenmon command line: a thin layer over the library.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use greenmon::config::Settings;
use greenmon::domain::registry::{Registry, RegistryFile};
use greenmon::{app, simulate, store, telemetry};

#[derive(Parser)]
#[command(
    name = "greenmon",
    version,
    about = "Green-development compliance monitor for industrial parks"
)]
struct Cli {
    /// Configuration file layered over the built-in defaults (see config/default.toml).
    #[arg(long, global = true, env = "GREENMON_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the service: migrate, ingest from MQTT, serve HTTP.
    Serve,
    /// Create the database if missing and apply migrations.
    Migrate,
    /// Check the configuration; print every problem and exit non-zero if there is one.
    CheckConfig,
    /// Manage the registry of parks, points and limits.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Publish realistic readings and energy reports for a registry.
    Simulate(simulate::SimulateArgs),
    /// Print a month's compliance per park: data rates, points below the validity threshold,
    /// discharge exceedances, energy intensity against the path.
    Report {
        /// The park to report on.
        #[arg(long, required_unless_present = "all", conflicts_with = "all")]
        park: Option<String>,
        /// Report on every park.
        #[arg(long)]
        all: bool,
        /// The month, YYYY-MM (local calendar month).
        #[arg(long)]
        month: String,
        #[arg(long, value_enum, default_value_t = ReportFormat::Table)]
        format: ReportFormat,
        /// Effective transmission rate below which a point is listed.
        #[arg(long, default_value_t = greenmon::compliance::rates::DEFAULT_EFFECTIVE_THRESHOLD)]
        threshold: f64,
    },
    /// HJ 212 tools: decode packets as an engineer needs to see them, or build packets.
    Hj212 {
        #[command(subcommand)]
        command: Hj212Command,
    },
    /// List and acknowledge alerts.
    Alerts {
        #[command(subcommand)]
        command: greenmon::alerts::cli::AlertsCommand,
    },
    /// API tokens: create (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
    /// PostgreSQL login roles for park managers' Grafana, confined to one park by row-level
    /// security.
    GrafanaRole {
        #[command(subcommand)]
        command: GrafanaRoleCommand,
    },
    /// The main job with demo data: migrate, import the demo registry, serve, and simulate.
    Demo {
        /// Registry to import and simulate.
        #[arg(long, default_value = "config/demo-registry.toml")]
        registry: PathBuf,
    },
}

#[derive(Subcommand)]
enum Hj212Command {
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

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it (the only time it is shown; only its hash is stored).
    Create {
        #[arg(long, value_enum)]
        role: TokenRoleArg,
        /// The park a park token reads (required with --role park).
        #[arg(long, required_if_eq("role", "park"))]
        park: Option<String>,
        /// Who holds the token, e.g. "hitech-zone energy office".
        #[arg(long)]
        name: String,
    },
    /// List tokens (never the secrets).
    List,
    /// Revoke a token by its id (from `token list`).
    Revoke { id: i64 },
}

#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum TokenRoleArg {
    Bureau,
    Park,
}

#[derive(Subcommand)]
enum GrafanaRoleCommand {
    /// Create a login role that reads only PARK's rows; prints its name and password once.
    Create {
        #[arg(long)]
        park: String,
        /// Role name (default: grafana_ and the park id with - as _).
        #[arg(long)]
        role_name: Option<String>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
    Csv,
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Import (or update) parks, points and limits from a TOML file.
    Import { file: PathBuf },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("greenmon: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::CheckConfig = cli.command {
        println!("configuration is valid");
        return ExitCode::SUCCESS;
    }
    if let Err(e) = telemetry::init_tracing(&settings.telemetry) {
        eprintln!("greenmon: {e:#}");
        return ExitCode::FAILURE;
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("greenmon: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(dispatch(cli.command, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "Command failed.");
            eprintln!("greenmon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn dispatch(command: Command, settings: Settings) -> anyhow::Result<()> {
    match command {
        Command::Serve => app::run(settings, shutdown_signal()).await,
        Command::Migrate => {
            store::ensure_database(&settings.database).await?;
            let backend = store::migrate(&store::pool(&settings.database)).await?;
            println!("migrated ({backend})");
            Ok(())
        }
        Command::CheckConfig => unreachable!("handled before the runtime starts"),
        Command::Registry {
            command: RegistryCommand::Import { file },
        } => {
            let registry = load_registry(&file)?;
            let summary = store::registry::import(&store::pool(&settings.database), &registry)
                .await
                .context("importing the registry")?;
            println!(
                "imported {} parks, {} points, {} limits from {}",
                summary.parks,
                summary.points,
                summary.limits,
                file.display()
            );
            Ok(())
        }
        Command::Simulate(args) => simulate::run(args, &settings).await,
        Command::Report {
            park,
            all: _,
            month,
            format,
            threshold,
        } => report(&settings, park.as_deref(), &month, format, threshold).await,
        Command::Hj212 { command } => hj212(command, &settings),
        Command::Token { command } => token(&settings, command).await,
        Command::GrafanaRole {
            command: GrafanaRoleCommand::Create { park, role_name },
        } => {
            use store::grafana_roles;
            let name = role_name.unwrap_or_else(|| grafana_roles::default_name(&park));
            let password = grafana_roles::create(&store::pool(&settings.database), &park, &name)
                .await
                .context("creating the Grafana role")?;
            println!(
                "role: {name}\npassword: {password}\n(shown once; it reads only park {park:?})"
            );
            Ok(())
        }
        Command::Demo { registry } => demo(settings, registry).await,
        Command::Alerts { command } => {
            greenmon::alerts::cli::run(command, &store::pool(&settings.database)).await
        }
    }
}

async fn token(settings: &Settings, command: TokenCommand) -> anyhow::Result<()> {
    use store::tokens::{self, TokenRole};
    let pool = store::pool(&settings.database);
    match command {
        TokenCommand::Create { role, park, name } => {
            let role = match (role, park) {
                (TokenRoleArg::Bureau, None) => TokenRole::Bureau,
                (TokenRoleArg::Bureau, Some(_)) => {
                    anyhow::bail!("--park is only for --role park")
                }
                (TokenRoleArg::Park, Some(p)) => {
                    if store::compliance::parks(&pool, Some(&p)).await?.is_empty() {
                        anyhow::bail!("park {p:?} is not registered");
                    }
                    TokenRole::Park(p)
                }
                (TokenRoleArg::Park, None) => anyhow::bail!("--role park needs --park"),
            };
            let (id, secret) = tokens::create(&pool, &name, &role)
                .await
                .context("creating the token")?;
            eprintln!("token {id} created; it is shown once, store it now:");
            println!("{secret}");
        }
        TokenCommand::List => {
            println!(
                "{:>5}  {:<8} {:<20} {:<12} {:<25} {:<25} name",
                "id", "role", "park", "prefix", "created", "revoked"
            );
            for t in tokens::list(&pool).await? {
                println!(
                    "{:>5}  {:<8} {:<20} {:<12} {:<25} {:<25} {}",
                    t.id,
                    t.role,
                    t.park_id.unwrap_or_default(),
                    t.prefix,
                    t.created_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    t.revoked_at
                        .map(|r| r.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                        .unwrap_or_default(),
                    t.name
                );
            }
        }
        TokenCommand::Revoke { id } => {
            if !tokens::revoke(&pool, id).await? {
                anyhow::bail!("no live token with id {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

fn hj212(command: Hj212Command, settings: &Settings) -> anyhow::Result<()> {
    use std::io::{Read, Write};
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
            for packet in greenmon::ingest::decode::inspect::describe(&input) {
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

async fn report(
    settings: &Settings,
    park: Option<&str>,
    month: &str,
    format: ReportFormat,
    threshold: f64,
) -> anyhow::Result<()> {
    use greenmon::compliance::report as r;
    let first_day = match month.parse::<greenmon::domain::Period>() {
        Ok(p @ greenmon::domain::Period::Month { .. }) => p.start(),
        _ => anyhow::bail!("--month {month:?} must be a month like 2018-03"),
    };
    if !(0.0..=1.0).contains(&threshold) {
        anyhow::bail!("--threshold {threshold} must be between 0 and 1");
    }
    let pool = store::pool(&settings.database);
    if let Some(id) = park {
        if store::compliance::parks(&pool, Some(id)).await?.is_empty() {
            anyhow::bail!("park {id:?} is not registered");
        }
    }
    let reports = r::monthly(
        &pool,
        settings.timezone(),
        park,
        first_day,
        threshold,
        chrono::Utc::now(),
    )
    .await
    .context("building the report")?;
    match format {
        ReportFormat::Table => print!("{}", r::render_table(&reports)),
        ReportFormat::Csv => print!("{}", r::render_csv(&reports)),
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&reports)?),
    }
    Ok(())
}

fn load_registry(file: &std::path::Path) -> anyhow::Result<Registry> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading registry {}", file.display()))?;
    RegistryFile::parse(&text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?
        .validate()
        .map_err(|problems| {
            anyhow::anyhow!(
                "{} is invalid:\n  - {}",
                file.display(),
                problems.join("\n  - ")
            )
        })
}

/// Migrates, imports the demo registry, then runs the service and the simulator side by side
/// until Ctrl-C.
async fn demo(settings: Settings, registry: PathBuf) -> anyhow::Result<()> {
    store::ensure_database(&settings.database).await?;
    let pool = store::pool(&settings.database);
    let backend = store::migrate(&pool).await?;
    let reg = load_registry(&registry)?;
    let summary = store::registry::import(&pool, &reg).await?;
    let running = app::start(settings.clone()).await?;
    println!(
        "greenmon demo: {} parks, {} points on {backend} database {:?}; metrics at http://{}/metrics, readiness at http://{}/readyz. Ctrl-C to stop.",
        summary.parks, summary.points, settings.database.dbname, running.http_addr, running.http_addr
    );
    let token = running.shutdown_token();
    // The simulator with its defaults, plus a few malformed messages so the quarantine has
    // something to show.
    let registry = registry.to_string_lossy().into_owned();
    let args = DemoSimulate::parse_from([
        "simulate",
        "--registry",
        &registry,
        "--invalid-rate",
        "0.002",
    ])
    .args;
    let sim_settings = settings.clone();
    let mut sim = tokio::spawn(async move { simulate::run(args, &sim_settings).await });
    let sim_failed = tokio::select! {
        () = shutdown_signal() => None,
        () = token.cancelled() => None,
        r = &mut sim => Some(r),
    };
    // The demo publisher needs no drain: whatever it had in flight is simply not sent.
    sim.abort();
    token.cancel();
    running.wait().await?;
    match sim_failed {
        None => Ok(()),
        Some(Ok(r)) => r.context("simulator stopped"),
        Some(Err(e)) => Err(anyhow::anyhow!("simulator task failed: {e}")),
    }
}

/// Parses simulator arguments for the demo, so it uses the same defaults as `greenmon simulate`.
#[derive(Parser)]
struct DemoSimulate {
    #[command(flatten)]
    args: simulate::SimulateArgs,
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
