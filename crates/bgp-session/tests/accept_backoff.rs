//! The listener under descriptor exhaustion: with connections waiting and
//! no file descriptor left, every accept fails with EMFILE at once. The
//! accept loop must pause instead of spinning on the error.
//!
//! This test lowers the process's own RLIMIT_NOFILE (with `prlimit`, no
//! unsafe code), so it lives alone in its own test binary.

use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use bgp_session::Speaker;

/// User plus system CPU time of this process, in clock ticks (1/100 s),
/// read through a file opened before the descriptors ran out.
fn cpu_ticks(stat: &std::fs::File) -> u64 {
    let mut buf = vec![0u8; 4096];
    let n = stat.read_at(&mut buf, 0).expect("read /proc/self/stat");
    let text = String::from_utf8_lossy(&buf[..n]).to_string();
    // Fields after the parenthesised command name; utime and stime are the
    // 14th and 15th fields of the line.
    let rest = &text[text.rfind(')').expect("comm field") + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    f[11].parse::<u64>().expect("utime") + f[12].parse::<u64>().expect("stime")
}

#[tokio::test]
async fn an_accept_that_fails_with_emfile_pauses_instead_of_spinning() {
    let speaker = Speaker::bind(&[SocketAddr::from(([127, 0, 0, 1], 0))])
        .await
        .unwrap();
    let port = speaker.local_addrs()[0].port();
    // A client in another process (its own descriptor limit), waiting for
    // a line before it connects three times and holds the connections.
    let mut client = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "read x; exec 3<>/dev/tcp/127.0.0.1/{port} 4<>/dev/tcp/127.0.0.1/{port} \
             5<>/dev/tcp/127.0.0.1/{port}; echo connected; sleep 4"
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn bash");
    let stat = std::fs::File::open("/proc/self/stat").unwrap();
    // The lowest free descriptor number becomes the limit: nothing more
    // can be opened.
    let lowest = std::fs::File::open("/dev/null").unwrap().as_raw_fd();
    let pid = std::process::id().to_string();
    let ok = Command::new("prlimit")
        .args(["--pid", &pid, &format!("--nofile={lowest}:")])
        .status()
        .expect("run prlimit");
    assert!(ok.success(), "prlimit failed: {ok}");
    assert!(
        std::fs::File::open("/dev/null").is_err(),
        "the descriptor limit did not take effect"
    );

    let mut stdin = client.stdin.take().unwrap();
    stdin.write_all(b"go\n").unwrap();
    // The kernel completes the handshakes without accept(): the client
    // says when its three connections are up (they wait in the backlog).
    // (Both pipes stay open to the end: closing one would free a
    // descriptor below the limit.)
    let mut line = String::new();
    let mut stdout = std::io::BufReader::new(client.stdout.take().unwrap());
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    assert_eq!(line, "connected\n", "the client could not connect");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = cpu_ticks(&stat);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let used = cpu_ticks(&stat) - before;
    // A loop retrying at once burns the whole 1.5 s (150 ticks; on a busy machine 60 or so); pausing
    // 100 ms doubling to 1 s costs almost nothing.
    assert!(
        used < 15,
        "the accept loop used {used} ticks of CPU in 1.5 s"
    );
    let _ = client.kill();
    let _ = client.wait();
    drop((stdin, stdout));
}
