//! The `pmp` command line: `serve` runs the portal, `demo` runs it beside a simulated Proxmox
//! VE cluster, `user create-admin` replaces the setup wizard on headless installs. Failures
//! print one sentence and exit non-zero, never a backtrace.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use pmp::config::{Config, LogFormat, Overrides};

/// Proxmox Manager Portal.
#[derive(Debug, Parser)]
#[command(name = "pmp", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the portal (and, unless --no-worker, a job worker inside it).
    Serve {
        #[command(flatten)]
        serve: ServeArgs,
        /// Do not run jobs in this process (leave them to `pmp worker`).
        #[arg(long)]
        no_worker: bool,
    },
    /// Run jobs only: claim them from the database until SIGTERM, then drain.
    Worker {
        #[command(flatten)]
        serve: ServeArgs,
        /// Jobs run at once [default: worker_concurrency, 4].
        #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
        concurrency: Option<u16>,
    },
    /// Run the portal on SQLite beside a simulated Proxmox VE cluster, to try it out.
    Demo(DemoArgs),
    /// Manage users from the command line.
    #[command(subcommand)]
    User(UserCommand),
    /// Check the audit trail.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Write a consistent snapshot of the portal's database, sealed with the data key, to a
    /// new file (the portal may keep running).
    Backup {
        /// The file to create.
        #[arg(long, short = 'o')]
        output: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Restore a backup onto a fresh install (no users yet), with the data key that sealed it.
    Restore {
        /// The backup file.
        #[arg(long, short = 'i')]
        input: PathBuf,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Re-seal every stored secret under a new data key, in one transaction, and write the
    /// new key where the current one comes from (or to --new-key-file).
    RotateKey {
        #[command(flatten)]
        serve: ServeArgs,
        /// Where to write the new key; needed when the key comes from PMP_SECRET_KEY.
        #[arg(long)]
        new_key_file: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk the hash chain and name the first entry that was edited, deleted or reordered.
    Verify {
        #[command(flatten)]
        serve: ServeArgs,
    },
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Create the first administrator (instead of the setup wizard). The password is read
    /// from a hidden prompt, or as one line from standard input when that is not a terminal.
    CreateAdmin {
        /// The administrator's username.
        #[arg(long)]
        username: String,
        #[command(flatten)]
        serve: ServeArgs,
    },
    /// Set a user's password (for an administrator locked out of the web UI): revokes every
    /// session and token of theirs and lifts sign-in locks. The password is read like
    /// create-admin's.
    ResetPassword {
        /// The user's username.
        #[arg(long)]
        username: String,
        /// Make the user choose a new password at their next sign-in.
        #[arg(long)]
        must_change: bool,
        /// Also remove the user's two-factor sign-in (a lost phone and no recovery codes).
        #[arg(long)]
        reset_2fa: bool,
        #[command(flatten)]
        serve: ServeArgs,
    },
}

/// Flags shared by every subcommand that serves.
#[derive(Debug, Args)]
struct ServeArgs {
    /// TOML configuration file [env: PMP_CONFIG].
    #[arg(long, short = 'c', env = "PMP_CONFIG", hide_env = true)]
    config: Option<PathBuf>,
    /// Address and port to listen on [default: 127.0.0.1:8080] [env: PMP_LISTEN].
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// sqlite://PATH or postgres://... [default: sqlite://DATA_DIR/pmp.db] [env: PMP_DATABASE_URL].
    #[arg(long)]
    database_url: Option<String>,
    /// Directory for the portal's files [default: ./data] [env: PMP_DATA_DIR].
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Log line format [env: PMP_LOG_FORMAT].
    #[arg(long, value_enum)]
    log_format: Option<LogFormat>,
    /// PEM certificate chain for serving HTTPS [env: PMP_TLS_CERT].
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// PEM private key for serving HTTPS [env: PMP_TLS_KEY].
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct DemoArgs {
    #[command(flatten)]
    serve: ServeArgs,
    /// Nodes in the simulated cluster.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u16).range(1..=64))]
    sim_nodes: u16,
    /// Guests (VMs and containers) in the simulated cluster.
    #[arg(long, default_value_t = 40, value_parser = clap::value_parser!(u32).range(0..=100_000))]
    sim_guests: u32,
}

impl ServeArgs {
    fn load(&self, database_default: Option<&str>) -> Result<Config, pmp::app::portal::StartError> {
        let overrides = Overrides {
            listen: self.listen,
            data_dir: self.data_dir.clone(),
            database_url: self.database_url.clone(),
            log_format: self.log_format,
            tls_cert: self.tls_cert.clone(),
            tls_key: self.tls_key.clone(),
        };
        let mut config = Config::load(self.config.as_deref(), &overrides)?;
        if config.database_url.is_none()
            && let Some(default) = database_default
        {
            config.database_url = Some(default.parse().map_err(|e: pmp::db::UrlError| {
                pmp::config::ConfigError::Invalid(e.to_string())
            })?);
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("pmp: error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pmp: error: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), pmp::app::portal::StartError> {
    match cli.command {
        Command::Serve { serve, no_worker } => {
            let mut config = serve.load(None)?;
            config.worker_enabled &= !no_worker;
            pmp::logging::init(config.log_format, &config.log_level);
            let stop = pmp::app::portal::shutdown_signal()?;
            let portal = pmp::app::portal::Portal::start(&config).await?;
            let grace = Duration::from_secs(config.shutdown_grace_secs);
            pmp::app::portal::run(portal, grace, stop).await
        }
        Command::Audit(AuditCommand::Verify { serve }) => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, &config.log_level);
            let db = pmp::app::portal::open_database(&config).await?;
            let verdict = pmp::audit::verify(&db).await?;
            db.close().await;
            match verdict {
                Ok(n) => {
                    println!("the audit trail is intact: {n} chained entries verified");
                    Ok(())
                }
                Err(broken) => Err(pmp::app::portal::StartError::Refused(broken.to_string())),
            }
        }
        Command::Backup { output, serve } => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, "warn");
            let done = pmp::backup::to_file(&config, &output).await?;
            println!(
                "backed up {} rows of {} tables to {}",
                done.rows,
                done.tables,
                output.display()
            );
            Ok(())
        }
        Command::Restore { input, serve } => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, "warn");
            let done = pmp::backup::from_file(&config, &input).await?;
            println!(
                "restored {} rows of {} tables from {}",
                done.rows,
                done.tables,
                input.display()
            );
            Ok(())
        }
        Command::RotateKey {
            serve,
            new_key_file,
        } => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, &config.log_level);
            let (path, count) =
                pmp::app::portal::rotate_key(&config, new_key_file.as_deref()).await?;
            println!(
                "re-sealed {count} stored secret(s) under a new data key, written to {}; the previous key no longer opens them",
                path.display()
            );
            Ok(())
        }
        Command::Worker { serve, concurrency } => {
            let mut config = serve.load(None)?;
            if let Some(n) = concurrency {
                config.worker_concurrency = usize::from(n);
            }
            pmp::logging::init(config.log_format, &config.log_level);
            let stop = pmp::app::portal::shutdown_signal()?;
            let keys = std::sync::Arc::new(pmp::secrets::Keys::load(&config)?);
            let db = pmp::app::portal::open_database(&config).await?;
            pmp::sealed::check(&db, &keys)
                .await
                .map_err(pmp::app::portal::sealed_error)?;
            let grace = Duration::from_secs(config.shutdown_grace_secs);
            let inventory = pmp::app::portal::inventory(&config);
            let (stop_worker, task) =
                pmp::app::portal::start_worker(&db, &config, keys, inventory, grace);
            stop.await;
            tracing::info!("stopping: finishing or releasing running jobs");
            let _ = stop_worker.send(true);
            let _ = task.await;
            db.close().await;
            Ok(())
        }
        Command::User(UserCommand::CreateAdmin { username, serve }) => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, "warn");
            let secret = read_password()?;
            let db = pmp::app::portal::open_database(&config).await?;
            let result = pmp::identity::users::cli::create_admin(&db, &username, secret).await;
            db.close().await;
            let name = result.map_err(|e| pmp::app::portal::StartError::Refused(e.to_string()))?;
            println!("Administrator {name} created; the setup wizard is now closed.");
            Ok(())
        }
        Command::User(UserCommand::ResetPassword {
            username,
            must_change,
            reset_2fa,
            serve,
        }) => {
            let config = serve.load(None)?;
            pmp::logging::init(config.log_format, "warn");
            let secret = read_password()?;
            let db = pmp::app::portal::open_database(&config).await?;
            let result = pmp::identity::users::cli::reset_password(
                &db,
                &username,
                secret,
                must_change,
                reset_2fa,
            )
            .await;
            db.close().await;
            let name = result.map_err(|e| pmp::app::portal::StartError::Refused(e.to_string()))?;
            println!("Password of {name} set; their sessions and tokens are revoked.");
            Ok(())
        }
        Command::Demo(args) => {
            let data_dir = args
                .serve
                .data_dir
                .clone()
                .unwrap_or_else(|| "./data".into());
            let default_db = format!("sqlite://{}", data_dir.join("demo.db").display());
            let config = args.serve.load(Some(&default_db))?;
            pmp::logging::init(config.log_format, &config.log_level);
            let stop = pmp::app::portal::shutdown_signal()?;
            let guests = usize::try_from(args.sim_guests).unwrap_or(usize::MAX);
            pmp::demo::run(&config, usize::from(args.sim_nodes), guests, stop).await
        }
    }
}

/// The new password: a hidden prompt at a terminal, otherwise one line of standard input.
fn read_password() -> Result<String, pmp::app::portal::StartError> {
    use std::io::IsTerminal as _;
    let refused = |e: std::io::Error| {
        pmp::app::portal::StartError::Refused(format!("cannot read the password: {e}"))
    };
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ").map_err(refused)?;
        let again = rpassword::prompt_password("Password again: ").map_err(refused)?;
        if first != again {
            return Err(pmp::app::portal::StartError::Refused(
                "the two passwords differ".to_owned(),
            ));
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(refused)?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}
