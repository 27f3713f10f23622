//! `haetae triage ID... --state S [--note] [--until] [--assign] [--actor]`.

use std::io::Write as _;

use anyhow::{Result, anyhow};
use haetae_findings::{State, Timestamp, Transition};

use crate::cli::TriageArgs;
use crate::config::Workspace;
use crate::exit::UsageError;

/// Who is triaging: `--actor`, else `$HAETAE_ACTOR`, else `$USER` (empty
/// ones skipped), else, as git does, the login name of this process's user
/// in the password database (`uid:N` when it lists none).
pub(crate) fn actor(flag: Option<String>) -> Result<String> {
    let given = |a: String| Some(a.trim().to_owned()).filter(|a| !a.is_empty());
    let who = match flag {
        Some(f) => given(f),
        None => std::env::var("HAETAE_ACTOR")
            .ok()
            .and_then(given)
            .or_else(|| std::env::var("USER").ok().and_then(given))
            .or_else(login_name),
    };
    who.ok_or_else(|| anyhow!(UsageError("who is triaging? pass --actor NAME or set HAETAE_ACTOR".into())))
}

/// The login name of the user this process runs as, from /etc/passwd; the
/// user id is the owner of `/proc/self` (no libc call, no `unsafe`).
fn login_name() -> Option<String> {
    use std::os::unix::fs::MetadataExt as _;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(passwd_name(&passwd, uid).unwrap_or_else(|| format!("uid:{uid}")))
}

/// The name of `uid` in passwd(5) text (`name:password:uid:gid:...`).
fn passwd_name(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?.trim();
        let _password = fields.next()?;
        let id: u32 = fields.next()?.trim().parse().ok()?;
        (id == uid && !name.is_empty() && !name.starts_with('#')).then(|| name.to_owned())
    })
}

pub(crate) fn run(ws: &Workspace, args: TriageArgs) -> Result<()> {
    let to: State = args.state.parse().map_err(|e| anyhow!(UsageError(format!("--state: {e}"))))?;
    let until = match &args.until {
        None => None,
        Some(u) => Some(u.parse::<Timestamp>().map_err(|e| anyhow!(UsageError(format!("--until: {e}"))))?),
    };
    let transition = Transition { to, actor: actor(args.actor)?, note: args.note, until, assign: args.assign };

    let changed: Vec<haetae_findings::Finding> = if let Some(api) = crate::remote::find(ws)? {
        let body = serde_json::json!({
            "ids": args.ids,
            "state": transition.to.as_str(),
            "actor": transition.actor,
            "note": transition.note,
            "until": args.until,
            "assign": transition.assign,
        });
        crate::remote::block(api.post("/v1/triage", &body))?
    } else {
        let store = super::open_existing_store(ws)?;
        let mut ids = Vec::with_capacity(args.ids.len());
        for id in &args.ids {
            ids.push(store.resolve_id(id)?);
        }
        ids.dedup();
        store.triage(&ids, &transition)?
    };
    let mut out = std::io::stdout().lock();
    if args.json {
        let list: Vec<_> = changed.iter().map(|f| f.to_json()).collect();
        serde_json::to_writer_pretty(&mut out, &list)?;
        writeln!(out)?;
        return Ok(());
    }
    for f in &changed {
        let from = f.history.last().and_then(|h| h.from).map_or("?", |s| s.as_str());
        writeln!(out, "{}  {from} -> {}  {}  {}", f.id, f.state, f.check, f.endpoint())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::passwd_name;

    #[test]
    fn login_names_come_from_the_uid_field() {
        let passwd = "# comment:x:1000:1000\nroot:x:0:0:root:/root:/bin/bash\n\nbroken line\nkim:x:1000:1000:Kim:/home/kim:/bin/sh\nnobody:x:65534:65534::/:/usr/sbin/nologin\n";
        assert_eq!(passwd_name(passwd, 0).as_deref(), Some("root"));
        assert_eq!(passwd_name(passwd, 1000).as_deref(), Some("kim"));
        assert_eq!(passwd_name(passwd, 65534).as_deref(), Some("nobody"));
        assert_eq!(passwd_name(passwd, 1001), None);
        assert_eq!(passwd_name("", 0), None);
    }
}
