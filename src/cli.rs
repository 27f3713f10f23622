//! Command-line grammar (SPEC.md "Commands"). Parsing only; no behaviour.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// haetae: scoped, continuous security inspection of public systems.
#[derive(Debug, Parser)]
#[command(name = "haetae", version, about, long_about = None, propagate_version = true)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) global: Global,
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Options every command takes; they override haetae.toml.
#[derive(Debug, Args, Default)]
pub(crate) struct Global {
    /// Run as if started in DIR.
    #[arg(short = 'C', value_name = "DIR", global = true)]
    pub(crate) chdir: Option<PathBuf>,
    /// Configuration file [default: haetae.toml, if present].
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) config: Option<PathBuf>,
    /// Scope file (overrides `scope` in haetae.toml).
    #[arg(long, value_name = "FILE", global = true)]
    pub(crate) scope: Option<PathBuf>,
    /// Store directory (overrides `store` in haetae.toml).
    #[arg(long, value_name = "DIR", global = true)]
    pub(crate) store: Option<PathBuf>,
    /// Name server to query, IP:PORT (repeatable; overrides resolver.nameservers).
    #[arg(long, value_name = "IP:PORT", global = true)]
    pub(crate) resolver: Vec<String>,
    /// Extra trusted CA certificate, PEM (repeatable; adds to tls.extra_roots).
    #[arg(long = "ca-cert", value_name = "PEM", global = true)]
    pub(crate) ca_cert: Vec<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Write starter haetae.toml, scope.toml and rules.toml.
    Init {
        /// Directory to write them in [default: current directory].
        dir: Option<PathBuf>,
        /// Overwrite existing files.
        #[arg(long)]
        force: bool,
    },
    /// Say whether each name, address or URL is in scope, and why.
    Scope {
        #[command(subcommand)]
        command: ScopeCommand,
    },
    /// Run one scan now.
    Scan(ScanArgs),
    /// Run the schedules until stopped.
    Daemon(DaemonArgs),
    /// Claim and run units of scans from a shared PostgreSQL store (scale-out).
    Worker(WorkerArgs),
    /// Open the triage UI.
    Tui(TuiArgs),
    /// List findings, or show one.
    Findings(FindingsArgs),
    /// Change the state of findings, with a note in their history.
    Triage(TriageArgs),
    /// Change events per asset: ports opened or closed, certificates, DNS
    /// answers, banners, hosts new or gone.
    Changes(ChangesArgs),
    /// Export findings for the agency.
    Export(ExportArgs),
    /// Validate, apply and explain prioritization rules.
    Rules {
        #[command(subcommand)]
        command: RulesCommand,
    },
    /// The content-check templates in force.
    Templates {
        #[command(subcommand)]
        command: TemplatesCommand,
    },
    /// The software data in force (end of life, known exploited).
    Data {
        #[command(subcommand)]
        command: DataCommand,
    },
    /// Verify or export the audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Notifications: what is queued, failed or delivered; a test message.
    Notify {
        #[command(subcommand)]
        command: NotifyCommand,
    },
    /// Check, back up or restore the findings store.
    Store {
        #[command(subcommand)]
        command: StoreCommand,
    },
    /// Start the built-in weak lab on loopback, scan it, print the summary.
    Demo {
        /// Open the TUI on the result.
        #[arg(long)]
        tui: bool,
        /// Keep the demo workspace in DIR.
        #[arg(long, value_name = "DIR")]
        keep: Option<PathBuf>,
    },
    /// Run a lab on loopback for scripts (hidden: `haetae lab serve --dir DIR`).
    #[command(hide = true)]
    Lab {
        #[command(subcommand)]
        command: LabCommand,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum LabCommand {
    /// Start the lab, write scope.toml, haetae.toml, rules.toml and the lab CA
    /// into DIR, print a line starting "ready", and serve until SIGTERM or Ctrl-C.
    Serve(LabServeArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LabServeArgs {
    /// Where to write the workspace files.
    #[arg(long, value_name = "DIR")]
    pub(crate) dir: PathBuf,
    /// Serve the hostile lab instead of the weak one.
    #[arg(long)]
    pub(crate) hostile: bool,
    /// Inject faults on a seeded share of exchanges (weak lab only).
    #[arg(long, value_name = "SEED:PERCENT")]
    pub(crate) faults: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct DaemonArgs {
    /// How log lines on stderr look: `plain` text or `json` (one JSON object a line).
    #[arg(long, value_name = "FORMAT", default_value = "plain", value_parser = ["plain", "json"])]
    pub(crate) log_format: String,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// This worker's name in the queue and its audit records (default: host name and process id).
    #[arg(long, value_name = "NAME")]
    pub(crate) id: Option<String>,
    /// How long a claimed unit stays this worker's without a renewal (a
    /// killed worker's unit is taken over after it), e.g. `60s`.
    #[arg(long, value_name = "DURATION", default_value = "60s")]
    pub(crate) lease: String,
    /// How log lines on stderr look: `plain` text or `json` (one JSON object a line).
    #[arg(long, value_name = "FORMAT", default_value = "plain", value_parser = ["plain", "json"])]
    pub(crate) log_format: String,
}

#[derive(Debug, Args)]
pub(crate) struct TuiArgs {
    /// Run a scan of the seeds in this process and follow it live (until the
    /// daemon arrives, this is how the TUI shows a running scan).
    #[arg(long)]
    pub(crate) scan: bool,
    /// Who is triaging [default: $HAETAE_ACTOR, else $USER, else the login name].
    #[arg(long, value_name = "NAME")]
    pub(crate) actor: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ScopeCommand {
    /// Check targets against the scope; exit 3 if any is out.
    Check {
        /// Names, addresses or URLs.
        #[arg(required = true)]
        targets: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        /// Also resolve each in-scope name (through the scope guard, audited) and
        /// say which of its addresses may be contacted, following CNAME chains.
        #[arg(long)]
        resolve: bool,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ScanArgs {
    /// Targets [default: the scope's seeds].
    pub(crate) targets: Vec<String>,
    /// passive, standard or deep.
    #[arg(long)]
    pub(crate) profile: Option<String>,
    /// Exit 4 if a finding at this priority or above is open.
    #[arg(long, value_name = "PRIORITY")]
    pub(crate) fail_on: Option<String>,
    /// Continue an interrupted scan.
    #[arg(long)]
    pub(crate) resume: bool,
    /// Run only these checks (globs, comma-separated or repeated: `tls.*,http.exposed-*`).
    #[arg(long, value_name = "GLOB,..", value_delimiter = ',')]
    pub(crate) checks: Vec<String>,
    /// Do not run these checks (globs, comma-separated or repeated).
    #[arg(long, value_name = "GLOB,..", value_delimiter = ',')]
    pub(crate) skip_checks: Vec<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum RulesCommand {
    /// Validate rules.toml.
    Check,
    /// Re-score every stored finding.
    Apply,
    /// Show each rule's effect on a finding.
    Explain {
        /// Finding id.
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// List the templates in force.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Validate the templates.
    Check,
}

#[derive(Debug, Subcommand)]
pub(crate) enum DataCommand {
    /// Validate the workspace's `data/` files and say which files are in force.
    Check,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// Check the audit log's hash chain (the workspace's, or an exported FILE).
    Verify {
        /// An audit log file [default: the workspace's].
        file: Option<PathBuf>,
    },
    /// Export the audit log, with its chain hashes.
    Export {
        /// jsonl (the log's own lines, verifiable with `audit verify`) or csv.
        #[arg(long, value_name = "FORMAT", default_value = "jsonl")]
        format: String,
        /// Output file [default: stdout]; with jsonl a FILE.head seal is written beside it.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum NotifyCommand {
    /// Queued and failed notifications (with their next attempt and last
    /// error) and the recently delivered ones.
    Status {
        /// One JSON object: counts and messages.
        #[arg(long)]
        json: bool,
    },
    /// Send one test message to every configured channel now; exit 1 if any failed.
    Test,
}

#[derive(Debug, Subcommand)]
pub(crate) enum StoreCommand {
    /// Check every record, index and the schema; exit 1 if anything is wrong.
    Check,
    /// Save every record, the audit log and its head to FILE (written atomically).
    Backup {
        /// The backup file to write.
        file: PathBuf,
    },
    /// Restore a backup into the workspace's store directory, which must be empty or absent.
    Restore {
        /// The backup file to read.
        file: PathBuf,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ChangesArgs {
    /// Only events at or after DATE (YYYY-MM-DD, UTC, or an RFC 3339 time).
    #[arg(long, value_name = "DATE")]
    pub(crate) since: Option<String>,
    /// Only hosts matching GLOB (`*.agency.test`).
    #[arg(long, value_name = "GLOB")]
    pub(crate) host: Option<String>,
    /// Print a JSON array instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// json, jsonl, csv, sarif, md or html.
    #[arg(long, value_name = "FORMAT")]
    pub(crate) format: String,
    /// Output file [default: stdout].
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<PathBuf>,
    /// Language of md and html reports: en or ko.
    #[arg(long, value_name = "LANG", default_value = "en")]
    pub(crate) lang: String,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct FindingsArgs {
    #[command(subcommand)]
    pub(crate) show: Option<FindingsCommand>,
    #[command(flatten)]
    pub(crate) filter: FilterArgs,
    /// Print JSON instead of a table.
    #[arg(long, global = true)]
    pub(crate) json: bool,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FindingsCommand {
    /// One finding: evidence, history, rules that fired.
    Show {
        /// Finding id (or a unique prefix of at least 4 characters).
        id: String,
    },
}

/// Filters shared by listings and exports.
#[derive(Debug, Args, Default)]
pub(crate) struct FilterArgs {
    /// State(s): open, confirmed, false-positive, accepted-risk, fixed, or all
    /// (repeatable or comma-separated) [default: open, confirmed, accepted-risk].
    #[arg(long, value_name = "STATE", value_delimiter = ',')]
    pub(crate) state: Vec<String>,
    /// Only findings at this priority or more urgent (P1..P4).
    #[arg(long, value_name = "P")]
    pub(crate) min_priority: Option<String>,
    /// Only checks matching this glob (e.g. 'dns.*').
    #[arg(long, value_name = "GLOB")]
    pub(crate) check: Option<String>,
    /// Only hosts matching this glob (e.g. '*.agency.test').
    #[arg(long, value_name = "GLOB")]
    pub(crate) host: Option<String>,
    /// Only findings seen on or after DATE (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub(crate) since: Option<String>,
    /// Only findings past their SLA due date.
    #[arg(long)]
    pub(crate) overdue: bool,
    /// Only the findings rules suppressed (hidden otherwise).
    #[arg(long)]
    pub(crate) suppressed: bool,
}

#[derive(Debug, Args)]
pub(crate) struct TriageArgs {
    /// Finding ids (or unique prefixes).
    #[arg(required = true)]
    pub(crate) ids: Vec<String>,
    /// New state: open, confirmed, false-positive, accepted-risk or fixed.
    #[arg(long)]
    pub(crate) state: String,
    /// Why (required for false-positive).
    #[arg(long)]
    pub(crate) note: Option<String>,
    /// For accepted-risk: until when (YYYY-MM-DD or RFC 3339).
    #[arg(long, value_name = "DATE")]
    pub(crate) until: Option<String>,
    /// Assign to someone (empty to unassign).
    #[arg(long, value_name = "WHO")]
    pub(crate) assign: Option<String>,
    /// Who is triaging [default: $HAETAE_ACTOR, else $USER, else the login name].
    #[arg(long, value_name = "NAME")]
    pub(crate) actor: Option<String>,
    /// Print the changed findings as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Parse the process arguments (clap exits 2 on usage errors).
pub(crate) fn parse() -> Cli {
    Cli::parse()
}
