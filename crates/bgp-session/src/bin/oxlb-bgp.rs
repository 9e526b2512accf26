//! `oxlb-bgp`: a small BGP announcer on top of the oxlb session engine.
//!
//! It peers with routers and announces the routes listed in a file, which it
//! re-reads on SIGHUP (sending only the difference). Used by the interop
//! tests and benchmarks, and handy on its own to check a router's config.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bgp_proto::adj_rib_out::RouteSpec;
use bgp_proto::fsm::{RemoteAs, SessionConfig};
use bgp_proto::{Community, LargeCommunity};
use bgp_session::{Endpoint, PeerSettings, SessionEvent, Speaker};
use clap::Parser;
use ipnet::IpNet;
use tokio::signal::unix::{signal, SignalKind};

#[derive(Parser, Debug)]
#[command(
    name = "oxlb-bgp",
    about = "Announce routes to BGP peers with the oxlb engine"
)]
struct Args {
    /// BGP identifier (an IPv4 address). Default: per peer, the IPv4 source
    /// address toward it, else a CRC-32 of --node-name (RFC 6286).
    #[arg(long)]
    router_id: Option<Ipv4Addr>,
    /// Node name, for a derived router ID on IPv6-only nodes.
    #[arg(long, default_value = "oxlb")]
    node_name: String,
    /// Our AS number.
    #[arg(long)]
    local_as: u32,
    /// Accept sessions on ADDR:PORT (repeatable).
    #[arg(long)]
    listen: Vec<SocketAddr>,
    /// A peer: 'address=IP,as=ASN[,name=N][,port=P][,source=IP][,password=S][,passive]
    /// [,hold=S][,keepalive=S][,connect-time=S][,multihop][,dynamic=internal|external]
    /// [,extended-next-hop][,no-link-local]' (repeatable).
    #[arg(long)]
    peer: Vec<String>,
    /// Routes to announce, one per line: 'PREFIX [community=A:B]... [large=A:B:C]...
    /// [local-pref=N]'. Re-read on SIGHUP.
    #[arg(long)]
    routes_file: Option<PathBuf>,
    /// Also announce N consecutive /32s from BASE, as N:BASE.
    #[arg(long)]
    generate: Option<String>,
    /// Write a JSON status here on every session change and every second.
    #[arg(long)]
    status_file: Option<PathBuf>,
    #[arg(long, default_value = "text")]
    log_format: String,
}

fn parse_peer(spec: &str, args: &Args) -> Result<PeerSettings, String> {
    let mut address = None;
    let mut remote = None;
    let mut name = None;
    let mut port = 179u16;
    let mut source = None;
    let mut password = None;
    let mut passive = false;
    let mut hold = 90u16;
    let mut keepalive = None;
    let mut connect = 120u64;
    let mut multihop = false;
    let mut ext_nh = false;
    let mut link_local = true;
    for part in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let bad = |what: &str| format!("peer '{spec}': {k}: {what} '{v}'");
        match k {
            "address" => address = Some(v.parse::<IpAddr>().map_err(|_| bad("not an IP address"))?),
            "as" => {
                remote = Some(RemoteAs::Fixed(
                    v.parse().map_err(|_| bad("not an AS number"))?,
                ))
            }
            "dynamic" => {
                remote = Some(match v {
                    "internal" => RemoteAs::Internal,
                    "external" => RemoteAs::External,
                    _ => return Err(bad("must be internal or external")),
                })
            }
            "name" => name = Some(v.to_string()),
            "port" => port = v.parse().map_err(|_| bad("not a port"))?,
            "source" => source = Some(v.parse().map_err(|_| bad("not an IP address"))?),
            "password" => password = Some(v.to_string()),
            "passive" => passive = true,
            "hold" => hold = v.parse().map_err(|_| bad("not seconds"))?,
            "keepalive" => keepalive = Some(v.parse().map_err(|_| bad("not seconds"))?),
            "connect-time" => connect = v.parse().map_err(|_| bad("not seconds"))?,
            "multihop" => multihop = true,
            "extended-next-hop" => ext_nh = true,
            "no-link-local" => link_local = false,
            _ => return Err(format!("peer '{spec}': unknown key '{k}'")),
        }
    }
    let address = address.ok_or_else(|| format!("peer '{spec}': address= is required"))?;
    let remote = remote.ok_or_else(|| format!("peer '{spec}': as= or dynamic= is required"))?;
    if hold == 1 || hold == 2 {
        return Err(format!(
            "peer '{spec}': hold: must be 0 or at least 3 seconds"
        ));
    }
    let ibgp = match remote {
        RemoteAs::Fixed(a) => a == args.local_as,
        RemoteAs::Internal => true,
        RemoteAs::External => false,
    };
    let router_id = args.router_id.unwrap_or_else(|| {
        bgp_session::transport::derive_router_id(address, source, &args.node_name)
    });
    let mut fsm = SessionConfig::new(args.local_as, remote, router_id);
    fsm.hold_time = hold;
    fsm.keepalive = keepalive;
    fsm.connect_retry_max = Duration::from_secs(connect.max(1));
    fsm.passive = passive;
    fsm.extended_next_hop = ext_nh;
    fsm.jitter_seed ^= match address {
        IpAddr::V4(a) => u64::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a) as u64,
    };
    Ok(PeerSettings {
        name: name.unwrap_or_else(|| address.to_string()),
        endpoint: Endpoint {
            address,
            port,
            source,
            password,
            ttl: if multihop || ibgp { 255 } else { 1 },
        },
        fsm,
        link_local_next_hop: link_local,
    })
}

fn parse_route(line: &str) -> Result<RouteSpec, String> {
    let mut parts = line.split_whitespace();
    let prefix: IpNet = parts
        .next()
        .ok_or("empty line")?
        .parse()
        .map_err(|_| format!("'{line}': not a prefix"))?;
    let mut r = RouteSpec::new(prefix);
    for p in parts {
        let (k, v) = p
            .split_once('=')
            .ok_or_else(|| format!("'{line}': '{p}' is not key=value"))?;
        match k {
            "community" => {
                let (a, b) = v
                    .split_once(':')
                    .ok_or_else(|| format!("'{line}': community '{v}' is not AA:NN"))?;
                let (a, b) = (a.parse::<u16>(), b.parse::<u16>());
                match (a, b) {
                    (Ok(a), Ok(b)) => r.communities.push(Community::new(a, b)),
                    _ => {
                        return Err(format!(
                            "'{line}': community '{v}' is not AA:NN (16-bit each)"
                        ))
                    }
                }
            }
            "large" => {
                let n: Vec<Result<u32, _>> = v.split(':').map(str::parse::<u32>).collect();
                match n.as_slice() {
                    [Ok(g), Ok(a), Ok(b)] => r.large_communities.push(LargeCommunity {
                        global_admin: *g,
                        local1: *a,
                        local2: *b,
                    }),
                    _ => return Err(format!("'{line}': large community '{v}' is not A:B:C")),
                }
            }
            "local-pref" => {
                r.local_pref = Some(
                    v.parse()
                        .map_err(|_| format!("'{line}': local-pref '{v}'"))?,
                )
            }
            _ => return Err(format!("'{line}': unknown key '{k}'")),
        }
    }
    Ok(r)
}

fn load_routes(args: &Args) -> Result<Vec<RouteSpec>, String> {
    let mut routes = Vec::new();
    if let Some(path) = &args.routes_file {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        for (n, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            routes
                .push(parse_route(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1))?);
        }
    }
    if let Some(g) = &args.generate {
        let (n, base) = g.split_once(':').ok_or("--generate: expected N:BASE")?;
        let n: u32 = n.parse().map_err(|_| "--generate: N is not a number")?;
        let base: Ipv4Addr = base
            .parse()
            .map_err(|_| "--generate: BASE is not an IPv4 address")?;
        let start = u32::from(base);
        for i in 0..n {
            let a = Ipv4Addr::from(start.wrapping_add(i));
            routes.push(RouteSpec::new(
                IpNet::new(IpAddr::V4(a), 32).map_err(|e| e.to_string())?,
            ));
        }
    }
    Ok(routes)
}

fn write_status(path: &PathBuf, speaker: &Speaker, routes: usize) {
    let body = serde_json::json!({ "peers": speaker.status(), "routes": routes });
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, body.to_string()).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

async fn run(args: Args) -> Result<(), String> {
    let peers: Vec<PeerSettings> = args
        .peer
        .iter()
        .map(|p| parse_peer(p, &args))
        .collect::<Result<_, _>>()?;
    // The routes go in with each peer, so a session that comes up at once
    // sends them as its initial table before End-of-RIB. Only the speaker's
    // shared table is kept; the list is dropped once handed over.
    let routes = Arc::new(load_routes(&args)?);
    let mut n_routes = routes.len();
    let speaker = Speaker::bind(&args.listen)
        .await
        .map_err(|e| e.to_string())?;
    for p in peers {
        speaker
            .upsert_peer_with_routes(p, routes.clone())
            .await
            .map_err(|e| e.to_string())?;
    }
    drop(routes);
    let mut events = speaker.subscribe();
    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = hup.recv() => match load_routes(&args) {
                Ok(r) => {
                    tracing::info!(routes = r.len(), "routes file reloaded");
                    n_routes = r.len();
                    let routes = Arc::new(r);
                    for name in speaker.peer_names() {
                        speaker.set_routes(&name, routes.clone()).await;
                    }
                }
                Err(e) => tracing::error!(error = %e, "routes file rejected; keeping the previous routes"),
            },
            _ = term.recv() => break,
            _ = int.recv() => break,
            ev = events.recv() => {
                if let Ok(SessionEvent::Established { .. } | SessionEvent::Down { .. } | SessionEvent::StateChanged { .. }) = ev {
                    if let Some(p) = &args.status_file { write_status(p, &speaker, n_routes); }
                }
            }
            _ = tick.tick() => {
                if let Some(p) = &args.status_file { write_status(p, &speaker, n_routes); }
            }
        }
    }
    speaker.shutdown("oxlb-bgp stopping").await;
    if let Some(p) = &args.status_file {
        write_status(p, &speaker, n_routes);
    }
    Ok(())
}

fn main() {
    let args = Args::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    if args.log_format == "json" {
        tracing_subscriber::fmt()
            .with_env_filter(filter)
            .json()
            .init();
    } else {
        tracing_subscriber::fmt().with_env_filter(filter).init();
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("oxlb-bgp: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    if let Err(e) = rt.block_on(run(args)) {
        eprintln!("oxlb-bgp: {e}");
        std::process::exit(1);
    }
}
