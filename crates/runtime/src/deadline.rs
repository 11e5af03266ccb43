//! Timeouts that cost nothing when the operation completes at once.
//!
//! `tokio::time::timeout` registers a timer (a lock on the time driver, a handle clone,
//! often a wake-up of the I/O driver) before it polls the operation, and removes it
//! after: per request that was several timers for reads and writes that, on a loaded
//! proxy, are mostly ready on the first poll. [`timeout`] and [`timeout_at`] poll the
//! operation first and arm the timer only when it has to wait, like nginx, which adds a
//! timer only when an event would block (`ngx_add_timer` after `NGX_AGAIN`).
//!
//! The deadline of [`timeout`] counts from that first wait rather than from the call:
//! the operation made no progress before it, so the time allowed is the same.

use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};

/// The operation did not complete in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

#[derive(Debug, Clone, Copy)]
enum Until {
    After(Duration),
    At(Instant),
}

pin_project_lite::pin_project! {
    /// See [`timeout`].
    #[must_use = "futures do nothing unless polled"]
    pub struct Timeout<F> {
        #[pin]
        fut: F,
        #[pin]
        sleep: Option<Sleep>,
        until: Until,
    }
}

/// `fut`, or [`Elapsed`] when it has waited `limit` without completing.
pub fn timeout<F: IntoFuture>(limit: Duration, fut: F) -> Timeout<F::IntoFuture> {
    Timeout {
        fut: fut.into_future(),
        sleep: None,
        until: Until::After(limit),
    }
}

/// `fut`, or [`Elapsed`] once `deadline` has passed without it completing.
pub fn timeout_at<F: IntoFuture>(deadline: Instant, fut: F) -> Timeout<F::IntoFuture> {
    Timeout {
        fut: fut.into_future(),
        sleep: None,
        until: Until::At(deadline),
    }
}

impl<F: Future> Future for Timeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        if this.sleep.is_none() {
            let deadline = match *this.until {
                Until::After(d) => Instant::now() + d,
                Until::At(t) => t,
            };
            this.sleep.set(Some(tokio::time::sleep_until(deadline)));
        }
        match this.sleep.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed)),
            _ => Poll::Pending,
        }
    }
}

pin_project_lite::pin_project! {
    /// See [`conn_timeout`].
    #[must_use = "futures do nothing unless polled"]
    pub struct ConnTimeout<F> {
        #[pin]
        fut: F,
        until: Until,
        deadline: Option<Instant>,
        #[pin]
        own: Option<Sleep>,
    }
}

/// [`timeout`] on the connection's alarm (`slots::ConnSlot::alarm`): for the waits a
/// request makes one after another (the upstream's response, its body, the client
/// taking it), so that a connection keeps one timer armed across requests instead of
/// registering and removing one per wait. Never for waits that run side by side in one
/// task. Outside a client connection's task it is [`timeout`].
pub fn conn_timeout<F: IntoFuture>(limit: Duration, fut: F) -> ConnTimeout<F::IntoFuture> {
    ConnTimeout {
        fut: fut.into_future(),
        until: Until::After(limit),
        deadline: None,
        own: None,
    }
}

/// [`conn_timeout`] with a fixed deadline (as [`timeout_at`]).
pub fn conn_timeout_at<F: IntoFuture>(deadline: Instant, fut: F) -> ConnTimeout<F::IntoFuture> {
    ConnTimeout {
        fut: fut.into_future(),
        until: Until::At(deadline),
        deadline: None,
        own: None,
    }
}

impl<F: Future> Future for ConnTimeout<F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        if let Poll::Ready(v) = this.fut.poll(cx) {
            return Poll::Ready(Ok(v));
        }
        let until = *this.until;
        let deadline = *this.deadline.get_or_insert_with(|| match until {
            Until::After(d) => Instant::now() + d,
            Until::At(t) => t,
        });
        if this.own.is_none() {
            if let Ok(p) = crate::slots::CONN.try_with(|c| c.alarm(deadline, cx)) {
                return p.map(|()| Err(Elapsed));
            }
            this.own.set(Some(tokio::time::sleep_until(deadline)));
        }
        match this.own.as_pin_mut().map(|s| s.poll(cx)) {
            Some(Poll::Ready(())) => Poll::Ready(Err(Elapsed)),
            _ => Poll::Pending,
        }
    }
}

/// Polls an idle wait that ends at `deadline` (which may have moved later since the last
/// poll): `Ready` once it has passed. On the connection's alarm when `own` is `None`
/// (the caller made it `Some` outside a connection's task); `own` is moved only when it
/// goes off before `deadline`, so pushing the deadline costs nothing.
pub fn poll_idle(
    own: Pin<&mut Option<Sleep>>,
    deadline: Instant,
    cx: &mut Context<'_>,
) -> Poll<()> {
    let Some(mut s) = own.as_pin_mut() else {
        return crate::slots::CONN
            .try_with(|c| c.alarm(deadline, cx))
            .unwrap_or(Poll::Pending);
    };
    loop {
        if s.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        if Instant::now() >= deadline {
            return Poll::Ready(());
        }
        s.as_mut().reset(deadline);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ready_at_once_needs_no_timer_and_waiting_times_out() {
        assert_eq!(timeout(Duration::from_secs(1), async { 7 }).await, Ok(7));
        let t0 = Instant::now();
        let r = timeout(Duration::from_secs(3), std::future::pending::<()>()).await;
        assert_eq!(r, Err(Elapsed));
        assert_eq!(t0.elapsed(), Duration::from_secs(3));
        let r = timeout_at(t0 + Duration::from_secs(5), std::future::pending::<()>()).await;
        assert_eq!(r, Err(Elapsed));
        assert_eq!(t0.elapsed(), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn completes_before_the_deadline() {
        let r = timeout(
            Duration::from_secs(3),
            tokio::time::sleep(Duration::from_secs(2)),
        )
        .await;
        assert_eq!(r, Ok(()));
    }
}
