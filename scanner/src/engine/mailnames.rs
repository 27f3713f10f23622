//! The SPF and DMARC checks of the mail domains below the zone apexes
//! (`checks/maildomain.rs`): every known in-scope name that is not an apex
//! is asked for its MX and TXT records; a name that owns either gets judged.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use haetae_findings::CheckId;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use super::{Ctx, Stop, panic_message};
use crate::checks::maildomain::{self, definite, is_mail_domain, judge_spf, own_txts, window_closed};
use crate::checks::observe;
use crate::dns::{RecordType, Response};

const SPF: [CheckId; 2] = [CheckId::DnsSpfMissing, CheckId::DnsSpfPermissive];
const DMARC: [CheckId; 2] = [CheckId::DnsDmarcMissing, CheckId::DnsDmarcWeak];

/// What the MX and TXT queries of one name said.
struct Probe {
    name: String,
    mx: Option<Response>,
    txt: Option<Response>,
    txt_audit: Vec<u64>,
    mx_audit: Vec<u64>,
    window: Option<String>,
}

/// Judge every mail domain among `names` (apexes excluded: the zone checks
/// judged them). Returns whether every unit came to an end.
pub(super) async fn mail_names(ctx: &Arc<Ctx>, names: &BTreeSet<String>, apexes: &BTreeSet<String>) -> bool {
    let scope = ctx.guard.scope();
    let skipped_all = |n: &str| SPF.iter().chain(&DMARC).all(|c| ctx.skipped(c, n, None));
    let todo: Vec<String> = names
        .iter()
        .filter(|n| !apexes.contains(*n) && scope.check_name(n).allowed && !skipped_all(n))
        .cloned()
        .collect();
    let mut set = JoinSet::new();
    let sem = Arc::new(Semaphore::new(scope.limits.concurrency.clamp(1, 64)));
    for name in todo {
        let Ok(permit) = sem.clone().acquire_owned().await else { break };
        if ctx.cancel.is_cancelled() {
            return false;
        }
        let ctx = ctx.clone();
        set.spawn(async move {
            let _permit = permit;
            let mx = ctx.guard.query(&name, RecordType::Mx).await;
            let txt = ctx.guard.query(&name, RecordType::Txt).await;
            Probe {
                window: window_closed(&mx).or_else(|| window_closed(&txt)),
                mx: definite(&mx).cloned(),
                txt: definite(&txt).cloned(),
                mx_audit: mx.audit,
                txt_audit: txt.audit,
                name,
            }
        });
    }
    let mut probes = Vec::new();
    while let Some(r) = set.join_next().await {
        match r {
            Ok(p) => probes.push(p),
            Err(e) if e.is_panic() => {
                let why = format!("the mail-domain query panicked: {}", panic_message(e.into_panic()));
                ctx.failed("dns.spf-*", "(a name)", None, None, &why).await;
            }
            Err(_) => {}
        }
    }
    probes.sort_by(|a, b| a.name.cmp(&b.name));
    let eng = scope.engagement.id.clone();
    let mut org_cache = HashMap::new();
    for p in probes {
        if let Some(w) = p.window {
            ctx.halt(Stop::Window(w));
            return false;
        }
        if ctx.cancel.is_cancelled() {
            return false;
        }
        let name = p.name.as_str();
        let why_unknown = "the name servers gave no definite answer to its MX or TXT query";
        match is_mail_domain(p.mx.as_ref(), p.txt.as_ref(), name) {
            None => {
                ctx.failed("dns.spf-*", name, None, None, why_unknown).await;
                ctx.failed("dns.dmarc-*", name, None, None, why_unknown).await;
            }
            Some(false) => {
                // Definitely no mail domain: nothing to judge, and nothing to keep open.
                for c in SPF.iter().chain(&DMARC) {
                    if !ctx.skipped(c, name, None) {
                        ctx.covered(c.clone(), name, None).await;
                    }
                }
            }
            Some(true) => {
                if !SPF.iter().all(|c| ctx.skipped(c, name, None)) {
                    match &p.txt {
                        Some(r) => {
                            if let Some((check, ev)) = judge_spf(name, &own_txts(r, name)) {
                                let mut audit = p.mx_audit.clone();
                                audit.extend(&p.txt_audit);
                                let asset = haetae_findings::Asset { host: name.to_owned(), ip: None, port: None };
                                ctx.found(vec![observe(check, &eng, asset, "TXT", ev, &audit)]).await;
                            }
                            for c in SPF {
                                ctx.covered(c, name, None).await;
                            }
                        }
                        None => ctx.failed("dns.spf-*", name, None, None, why_unknown).await,
                    }
                }
                if !DMARC.iter().all(|c| ctx.skipped(c, name, None)) {
                    let org = maildomain::organizational_domain(&scope.domains, name);
                    let out = maildomain::dmarc(&ctx.guard, name, org, &mut org_cache, &eng).await;
                    if let Some(w) = out.window_closed {
                        ctx.halt(Stop::Window(w));
                        return false;
                    }
                    ctx.found(out.observation.into_iter().collect()).await;
                    if out.definite {
                        for c in DMARC {
                            ctx.covered(c, name, None).await;
                        }
                    } else {
                        let why = "the name servers gave no definite answer for its DMARC record or its organizational domain's";
                        ctx.failed("dns.dmarc-*", name, None, None, why).await;
                    }
                }
            }
        }
    }
    !ctx.cancel.is_cancelled()
}
