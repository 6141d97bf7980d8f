//! Outpost (vendor/README.md): a set of futures polled together, in place of
//! `FuturesUnordered` for the driver's UDP receives.
//!
//! Self-contained (std and `futures`), so that Outpost's `outpost-link` tests
//! can compile it as a module of their own: cargo runs no tests of a patched
//! dependency.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Outpost (vendor/README.md): the UDP sockets' receive futures, each polled
/// on every wake of the driver, in turn from a rotating start.
///
/// This was a `FuturesUnordered`, which yields once it has polled each of its
/// futures in one call: it wakes its own task and returns `Pending`. The loop
/// pushes a new receive future after every datagram, so the next `select!`
/// polled it, it was the only one (one socket), and every datagram woke the
/// driver a second time. tokio schedules such a self-wake as a yield: it wakes
/// another worker thread (an `eventfd` write) before running the task the
/// datagram was for, about 10 µs on each message's path (BENCHMARKS.md, issue
/// 16). A driver has a few sockets at most, and polling one whose receive is
/// pending costs no system call, so polling all of them is cheap.
pub(crate) struct RecvSet<F> {
    futures: Vec<F>,
    next_first: usize,
}

impl<F: Future + Unpin> RecvSet<F> {
    pub(crate) fn push(&mut self, future: F) {
        self.futures.push(future);
    }

    pub(crate) fn clear(&mut self) {
        self.futures.clear();
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.futures.is_empty()
    }

    /// The output of the first future to finish (which leaves the set), or
    /// `None` at once when the set is empty, as `StreamExt::next` on a
    /// `FuturesUnordered`.
    pub(crate) fn next(&mut self) -> RecvNext<'_, F> {
        RecvNext {
            set: self,
            done: false,
        }
    }
}

/// The future of [`RecvSet::next`]: a named type (no drop glue), so the set
/// can be used again in a `select!` arm, as with `FuturesUnordered`'s `Next`.
pub(crate) struct RecvNext<'a, F> {
    set: &'a mut RecvSet<F>,
    done: bool,
}

impl<F: Future + Unpin> Future for RecvNext<'_, F> {
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let set = &mut *this.set;
        let n = set.futures.len();
        if n == 0 {
            this.done = true;
            return Poll::Ready(None);
        }
        let first = set.next_first % n;
        set.next_first = set.next_first.wrapping_add(1);
        for k in 0..n {
            let i = (first + k) % n;
            if let Poll::Ready(out) = Pin::new(&mut set.futures[i]).poll(cx) {
                drop(set.futures.swap_remove(i));
                this.done = true;
                return Poll::Ready(Some(out));
            }
        }
        Poll::Pending
    }
}

impl<F: Future + Unpin> futures::future::FusedFuture for RecvNext<'_, F> {
    fn is_terminated(&self) -> bool {
        self.done
    }
}

impl<F> FromIterator<F> for RecvSet<F> {
    fn from_iter<I: IntoIterator<Item = F>>(iter: I) -> Self {
        RecvSet {
            futures: iter.into_iter().collect(),
            next_first: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    /// A waker that counts its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn counting() -> (Arc<Count>, Waker) {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        (count.clone(), Waker::from(count))
    }

    type Boxed = Pin<Box<dyn Future<Output = u32> + Send>>;

    fn poll_next(set: &mut RecvSet<Boxed>, waker: &Waker) -> Poll<Option<u32>> {
        let mut next = set.next();
        Pin::new(&mut next).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn an_empty_set_ends_at_once() {
        let (_, waker) = counting();
        let mut set: RecvSet<Boxed> = std::iter::empty().collect();
        assert!(set.is_empty());
        assert_eq!(poll_next(&mut set, &waker), Poll::Ready(None));
    }

    #[test]
    fn a_finished_future_leaves_the_set() {
        let (_, waker) = counting();
        let mut set: RecvSet<Boxed> = std::iter::empty().collect();
        set.push(Box::pin(std::future::pending()));
        set.push(Box::pin(async { 7 }));
        assert_eq!(poll_next(&mut set, &waker), Poll::Ready(Some(7)));
        assert!(!set.is_empty());
        assert_eq!(poll_next(&mut set, &waker), Poll::Pending);
        set.clear();
        assert!(set.is_empty());
    }

    /// The point of the set: a future that is not ready does not wake the
    /// task polling the set. `FuturesUnordered` wakes it once it has polled
    /// each of its futures, so every datagram woke the driver twice.
    #[test]
    fn pending_futures_do_not_wake_the_task() {
        let (count, waker) = counting();
        let mut set: RecvSet<Boxed> = std::iter::empty().collect();
        for _ in 0..3 {
            // As the driver does after each datagram: a new receive future.
            set.push(Box::pin(std::future::pending()));
            assert_eq!(poll_next(&mut set, &waker), Poll::Pending);
        }
        assert_eq!(count.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_future_that_becomes_ready_wakes_the_task_once() {
        let (count, waker) = counting();
        let (tx, rx) = futures::channel::oneshot::channel::<u32>();
        let mut set: RecvSet<Boxed> = std::iter::empty().collect();
        set.push(Box::pin(async move { rx.await.unwrap_or(0) }));
        assert_eq!(poll_next(&mut set, &waker), Poll::Pending);
        tx.send(42).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll_next(&mut set, &waker), Poll::Ready(Some(42)));
        assert!(set.is_empty());
    }

    #[test]
    fn ready_futures_take_turns() {
        let (_, waker) = counting();
        let mut set: RecvSet<Boxed> = std::iter::empty().collect();
        for i in 0..4 {
            set.push(Box::pin(async move { i }));
        }
        let mut got: Vec<u32> = (0..4)
            .map(|_| match poll_next(&mut set, &waker) {
                Poll::Ready(Some(v)) => v,
                other => panic!("expected a value, got {other:?}"),
            })
            .collect();
        got.sort_unstable();
        assert_eq!(got, [0, 1, 2, 3]);
        assert_eq!(poll_next(&mut set, &waker), Poll::Ready(None));
    }
}
