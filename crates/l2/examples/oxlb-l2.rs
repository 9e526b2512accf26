//! `oxlb-l2 CONFIG.json`: one L2 node (`l2::node::spawn`) without the
//! speaker, for benches and by-hand tests in a namespace. SIGTERM or
//! SIGINT: stop answering, send the leave, exit 0. With `status_file`, the
//! status is written there (JSON, replaced atomically) every 100 ms.
//!
//! ```json
//! {"node_name": "a", "bind": "192.0.2.1:7946", "secret": "s3cret",
//!  "fencing": "majority", "profile": "fast", "status_file": "/tmp/a.json",
//!  "members": [{"name": "a", "addr": "192.0.2.1"}, {"name": "b", "addr": "192.0.2.2"}],
//!  "vips": [{"ip": "192.0.2.50", "election_ip": "192.0.2.50",
//!            "interfaces": ["eth0"], "matching_nodes": ["a", "b"],
//!            "scores": {"a": 1}, "ready_nodes": ["a"]}]}
//! ```
//! `election_ip` defaults to `ip`; `interfaces` and `ready_nodes` to none
//! (every eligible interface; every node may announce); `matching_nodes`
//! to every member; `fencing` to majority, `profile` to default.

#[cfg(target_os = "linux")]
mod real {
    use std::collections::{BTreeMap, BTreeSet};
    use std::net::{IpAddr, SocketAddr};
    use std::time::Duration;

    use l2::membership::{Fencing, Member};
    use l2::node::{self, Desired, NodeConfig, NodeStatus, Profile, VipDesire};
    use serde_json::{json, Value};

    type Error = String;

    fn field<'a>(v: &'a Value, path: &str, name: &str) -> Result<&'a Value, Error> {
        v.get(name)
            .ok_or_else(|| format!("config: field `{path}{name}` is missing"))
    }

    fn text(v: &Value, path: &str, name: &str) -> Result<String, Error> {
        field(v, path, name)?
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("config: field `{path}{name}` must be a string"))
    }

    fn parsed<T: std::str::FromStr>(v: &Value, path: &str, name: &str) -> Result<T, Error>
    where
        T::Err: std::fmt::Display,
    {
        let s = text(v, path, name)?;
        s.parse()
            .map_err(|e| format!("config: field `{path}{name}` {s:?}: {e}"))
    }

    fn names(v: &Value, path: &str, name: &str) -> Result<Option<BTreeSet<String>>, Error> {
        let Some(list) = v.get(name) else {
            return Ok(None);
        };
        let list = list
            .as_array()
            .ok_or_else(|| format!("config: field `{path}{name}` must be a list of strings"))?;
        list.iter()
            .enumerate()
            .map(|(i, s)| {
                s.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| format!("config: field `{path}{name}[{i}]` must be a string"))
            })
            .collect::<Result<_, _>>()
            .map(Some)
    }

    fn config(v: &Value) -> Result<(NodeConfig, Desired, Option<String>), Error> {
        let members_v = field(v, "", "members")?
            .as_array()
            .ok_or("config: field `members` must be a list")?;
        let mut members = Vec::new();
        for (i, m) in members_v.iter().enumerate() {
            let path = format!("members[{i}].");
            members.push(Member {
                name: text(m, &path, "name")?,
                addr: parsed::<IpAddr>(m, &path, "addr")?,
            });
        }
        let fencing = match v.get("fencing").and_then(Value::as_str) {
            None | Some("majority") => Fencing::Majority,
            Some("off") => Fencing::Off,
            Some(o) => return Err(format!("config: field `fencing` {o:?}: majority or off")),
        };
        let profile = match v.get("profile").and_then(Value::as_str) {
            None | Some("default") => Profile::Default,
            Some("fast") => Profile::Fast,
            Some(o) => return Err(format!("config: field `profile` {o:?}: default or fast")),
        };
        let all: BTreeSet<String> = members.iter().map(|m| m.name.clone()).collect();
        let mut vips = Vec::new();
        let vips_v = field(v, "", "vips")?
            .as_array()
            .ok_or("config: field `vips` must be a list")?;
        for (i, x) in vips_v.iter().enumerate() {
            let path = format!("vips[{i}].");
            let ip: IpAddr = parsed(x, &path, "ip")?;
            let election_ip = match x.get("election_ip") {
                None => ip,
                Some(_) => parsed(x, &path, "election_ip")?,
            };
            let mut scores = BTreeMap::new();
            if let Some(s) = x.get("scores").and_then(Value::as_object) {
                for (n, w) in s {
                    let w = w.as_i64().ok_or_else(|| {
                        format!("config: field `{path}scores.{n}` must be an integer")
                    })?;
                    scores.insert(n.clone(), w);
                }
            }
            vips.push(VipDesire {
                ip,
                election_ip,
                interfaces: names(x, &path, "interfaces")?,
                matching_nodes: names(x, &path, "matching_nodes")?.unwrap_or_else(|| all.clone()),
                scores,
                ready_nodes: names(x, &path, "ready_nodes")?,
                services: vec![format!("oxlb-l2/vip{i}")],
            });
        }
        let cfg = NodeConfig {
            node_name: text(v, "", "node_name")?,
            members,
            bind: parsed::<SocketAddr>(v, "", "bind")?,
            secret: text(v, "", "secret")?.into_bytes(),
            fencing,
            profile,
        };
        let status_file = v
            .get("status_file")
            .and_then(Value::as_str)
            .map(str::to_string);
        Ok((cfg, Desired { vips }, status_file))
    }

    fn status_json(s: &NodeStatus) -> Value {
        json!({
            "fenced": s.fenced,
            "members": s.members.iter().map(|(n, up)| json!({"name": n, "alive": up})).collect::<Vec<_>>(),
            "interfaces": s.interfaces,
            "failover_seconds": s.failover_seconds,
            "drops": s.drops.iter().map(|(r, n)| (r.to_string(), json!(n))).collect::<serde_json::Map<_, _>>(),
            "vips": s.vips.iter().map(|v| json!({
                "ip": v.ip.to_string(),
                "winner": v.winner,
                "candidates": v.candidates,
                "reason": v.reason,
                "announcing_on": v.announcing_on,
                "requests_received": v.requests_received,
                "responses_sent": v.responses_sent,
                "gratuitous_sent": v.gratuitous_sent,
            })).collect::<Vec<_>>(),
        })
    }

    fn write_status(path: &str, s: &NodeStatus) -> std::io::Result<()> {
        let tmp = format!("{path}.tmp");
        std::fs::write(&tmp, status_json(s).to_string())?;
        std::fs::rename(&tmp, path)
    }

    pub async fn main() -> Result<(), Error> {
        use tokio::signal::unix::{signal, SignalKind};
        let path = std::env::args()
            .nth(1)
            .ok_or("usage: oxlb-l2 CONFIG.json")?;
        let raw = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
        let v: Value = serde_json::from_str(&raw).map_err(|e| format!("{path}: {e}"))?;
        let (cfg, desired, status_file) = config(&v).map_err(|e| format!("{path}: {e}"))?;
        let mut term = signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM: {e}"))?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT: {e}"))?;
        let node = node::spawn(cfg).await.map_err(|e| e.to_string())?;
        node.set_desired(desired);
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = term.recv() => break,
                _ = int.recv() => break,
                _ = tick.tick() => {
                    if let Some(p) = &status_file {
                        if let Err(e) = write_status(p, &node.status()) {
                            tracing::warn!(%e, file = %p, "status file");
                        }
                    }
                }
            }
        }
        node.shutdown().await;
        Ok(())
    }
}

#[cfg(target_os = "linux")]
#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    match real::main().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("oxlb-l2: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("oxlb-l2: Linux only");
}
