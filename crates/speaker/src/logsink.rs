//! Where the standalone speaker's log lines go: stdout, written by one
//! thread in batches. A reload that releases 100k Services logs 100k
//! lines; written one `write(2)` each from the reload itself they were
//! most of a withdraw-all (measured: ~0.6 s of 1.1 s at 100k). Here a
//! line is appended to a buffer and the writer thread takes everything
//! buffered at once, so an idle speaker's line goes out immediately and a
//! burst costs one syscall per batch. The buffer is bounded: a logger
//! finding it full waits for the writer (no unbounded growth, no line
//! dropped).

use std::io::Write;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Most bytes buffered before a logger waits for the writer.
const MAX_BUFFERED: usize = 1 << 20;

#[derive(Default)]
struct Inner {
    buf: Vec<u8>,
    /// A batch taken by the writer and not yet written.
    writing: bool,
}

#[derive(Default)]
struct Shared {
    inner: Mutex<Inner>,
    /// Signalled when lines arrive (for the writer) and when a batch is
    /// written (for waiting loggers and [`LogSink::drain`]).
    changed: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn wait<'a>(&self, g: MutexGuard<'a, Inner>) -> MutexGuard<'a, Inner> {
        self.changed.wait(g).unwrap_or_else(|e| e.into_inner())
    }
}

/// A `MakeWriter` for tracing-subscriber; clones share one buffer.
#[derive(Clone)]
pub struct LogSink(Arc<Shared>);

impl LogSink {
    /// Starts the writer thread; `out` receives every line.
    pub fn start(mut out: impl Write + Send + 'static) -> std::io::Result<Self> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(move || loop {
                let mut g = s.lock();
                while g.buf.is_empty() {
                    g = s.wait(g);
                }
                let batch = std::mem::take(&mut g.buf);
                g.writing = true;
                drop(g);
                // A failed write (stdout closed) loses the batch, as a
                // direct write would have lost its line.
                let _ = out.write_all(&batch).and_then(|()| out.flush());
                let mut g = s.lock();
                g.writing = false;
                // The emptied batch's capacity is reused when nothing
                // arrived meanwhile (no allocation per batch when idle).
                if g.buf.is_empty() {
                    let mut batch = batch;
                    batch.clear();
                    batch.shrink_to(64 << 10);
                    g.buf = batch;
                }
                drop(g);
                s.changed.notify_all();
            })?;
        Ok(LogSink(shared))
    }

    /// Waits until every line logged so far is written.
    pub fn drain(&self) {
        let mut g = self.0.lock();
        while !g.buf.is_empty() || g.writing {
            g = self.0.wait(g);
        }
    }
}

impl Write for LogSink {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let mut g = self.0.lock();
        while g.buf.len() >= MAX_BUFFERED {
            g = self.0.wait(g);
        }
        // Only an idle writer waits for lines: one busy with a batch looks
        // at the buffer again when done, so a burst costs no wake-up (a
        // futex call) per line.
        let wake = g.buf.is_empty() && !g.writing;
        g.buf.extend_from_slice(data);
        drop(g);
        if wake {
            self.0.changed.notify_all();
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogSink {
    type Writer = LogSink;
    fn make_writer(&'a self) -> LogSink {
        self.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer the test can read back.
    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<u8>>>);
    impl Write for Collect {
        fn write(&mut self, d: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(d);
            Ok(d.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_of_a_burst_larger_than_the_buffer_is_written_in_order() {
        let out = Collect::default();
        let mut sink = LogSink::start(out.clone()).unwrap();
        let line = |i: usize| format!("line {i} {}\n", "x".repeat(100));
        let n = MAX_BUFFERED / 50;
        for i in 0..n {
            sink.write_all(line(i).as_bytes()).unwrap();
        }
        sink.drain();
        let got = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        let want: String = (0..n).map(line).collect();
        assert_eq!(got.len(), want.len());
        assert!(got == want, "lines lost or reordered");
    }
}
