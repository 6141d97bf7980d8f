//! Real WebRTC between two peers on loopback (in one process here; the
//! end-to-end tests run them as separate processes): the data channel comes
//! up, carries messages both ways (large ones chunked), and each side
//! refuses the other's impostor.

use std::time::Duration;

use outpost_link::{
    accept_slave, connect_master, connect_master_as, Admission, Identity, LinkError, RtcOptions,
    SignalSocket,
};
use tokio::net::TcpListener;

struct Ids {
    _dirs: Vec<tempfile::TempDir>,
    master: Identity,
    slave: Identity,
    impostor: Identity,
}

fn ids() -> Ids {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    Ids {
        master: Identity::load_or_create(dirs[0].path()).unwrap(),
        slave: Identity::load_or_create(dirs[1].path()).unwrap(),
        impostor: Identity::load_or_create(dirs[2].path()).unwrap(),
        _dirs: dirs,
    }
}

/// The slave "Front desk" connecting to `addr`, expecting the master's
/// fingerprint.
async fn front_desk(
    addr: &str,
    ids: &Ids,
) -> Result<(outpost_link::Channel, outpost_link::MasterInfo), LinkError> {
    connect_master(
        addr,
        &ids.slave,
        &RtcOptions::default(),
        ids.master.fingerprint(),
        "Front desk",
        None,
    )
    .await
}

/// A master that accepts one connection, admitting only `allowed`.
async fn one_master(
    master: Identity,
    allowed: String,
) -> (
    String,
    tokio::task::JoinHandle<Result<outpost_link::Channel, LinkError>>,
) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let task = tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let ws = SignalSocket::accept(stream, Duration::from_secs(5)).await?;
        let (channel, _hello) = accept_slave(
            ws,
            &master,
            &RtcOptions::default(),
            "Test depot",
            |h| async move {
                if h.device == allowed {
                    Admission::Accept
                } else {
                    Admission::Refuse {
                        code: "unauthorized".into(),
                        message: "unknown device".into(),
                    }
                }
            },
        )
        .await?;
        Ok(channel)
    });
    (addr, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_comes_up_and_carries_small_and_chunked_messages_both_ways() {
    let ids = ids();
    let (addr, master) = one_master(ids.master.clone(), ids.slave.fingerprint().into()).await;
    let (slave_ch, info) = front_desk(&addr, &ids).await.expect("slave connects");
    assert_eq!(info.name, "Test depot");
    let mut master_ch = master.await.unwrap().expect("master accepts");
    let mut slave_ch = slave_ch;

    slave_ch.tx.send(b"hello master").await.unwrap();
    assert_eq!(
        master_ch.rx.recv().await.unwrap().unwrap(),
        &b"hello master"[..]
    );
    // 1 MiB: far over one SCTP message, so it is chunked and reassembled.
    let big: Vec<u8> = (0..1_048_576u32).map(|i| (i % 253) as u8).collect();
    master_ch.tx.send(&big).await.unwrap();
    master_ch.tx.send(b"after").await.unwrap();
    assert_eq!(slave_ch.rx.recv().await.unwrap().unwrap(), big);
    assert_eq!(slave_ch.rx.recv().await.unwrap().unwrap(), &b"after"[..]);

    // Closing one side ends the other's stream.
    master_ch.tx.close().await;
    let end = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match slave_ch.rx.recv().await {
                None => return,
                Some(_) => continue,
            }
        }
    })
    .await;
    assert!(end.is_ok(), "the slave did not notice the close");
}

/// Many messages sent at once, as pipelined calls and their answers are:
/// each arrives whole, in the order it was queued, most of them sharing
/// batch frames; a chunked one in the middle goes alone, in its place.
/// On one thread, so the whole burst is queued before the writer runs (on
/// two, how many share a frame depends on how the threads interleave).
#[tokio::test(flavor = "current_thread")]
async fn a_burst_of_messages_shares_frames_and_arrives_whole_and_in_order() {
    let ids = ids();
    let (addr, master) = one_master(ids.master.clone(), ids.slave.fingerprint().into()).await;
    let (slave_ch, _) = front_desk(&addr, &ids).await.expect("slave connects");
    let mut master_ch = master.await.unwrap().expect("master accepts");
    let mut slave_ch = slave_ch;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    let message = |i: usize| -> Vec<u8> {
        if i == 150 {
            big.clone()
        } else {
            format!("call {i} {}", "x".repeat(i % 97)).into_bytes()
        }
    };
    for (from, to) in [
        (&slave_ch.tx, &mut master_ch.rx),
        (&master_ch.tx, &mut slave_ch.rx),
    ] {
        let before = from.sent_whole();
        // All at once from one task: each send queues its message on its
        // first poll, in this order.
        let want: Vec<Vec<u8>> = (0..300).map(message).collect();
        let sent = futures_util::future::join_all(want.iter().map(|m| from.send(m))).await;
        assert!(sent.iter().all(|r| r.is_ok()));
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.push(to.recv().await.unwrap().unwrap());
        }
        assert!(got == want, "every message arrives whole, in order");
        let after = from.sent_whole();
        let (messages, frames) = (after.0 - before.0, after.1 - before.1);
        assert_eq!(messages, 299, "the chunked one is not counted");
        assert!(
            frames < messages / 2,
            "{messages} messages in {frames} frames"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slave_refuses_a_master_with_another_fingerprint() {
    let ids = ids();
    // The "master" here is an impostor identity; the slave expects the real one.
    let (addr, master) = one_master(ids.impostor.clone(), ids.slave.fingerprint().into()).await;
    let err = front_desk(&addr, &ids).await.err().expect("must refuse");
    assert!(
        matches!(err, LinkError::FingerprintMismatch { .. }),
        "{err}"
    );
    assert!(
        err.to_string().contains(ids.impostor.fingerprint()),
        "{err}"
    );
    assert!(
        master.await.unwrap().is_err(),
        "the impostor got no channel"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_refuses_an_unknown_device_with_a_reason() {
    let ids = ids();
    let (addr, master) = one_master(ids.master.clone(), ids.slave.fingerprint().into()).await;
    let err = connect_master(
        &addr,
        &ids.impostor,
        &RtcOptions::default(),
        ids.master.fingerprint(),
        "Impostor",
        None,
    )
    .await
    .err()
    .expect("must refuse");
    match err {
        LinkError::Refused { code, message } => {
            assert_eq!(code, "unauthorized");
            assert_eq!(message, "unknown device");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    assert!(master.await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_master_refuses_an_impostor_claiming_an_approved_device_id() {
    let ids = ids();
    let (addr, master) = one_master(ids.master.clone(), ids.slave.fingerprint().into()).await;
    // Says hello as the approved slave, but holds another private key: its
    // answer carries its own certificate's fingerprint.
    let err = connect_master_as(
        &addr,
        &ids.impostor,
        ids.slave.fingerprint(),
        &RtcOptions::default(),
        ids.master.fingerprint(),
        "Impostor",
        None,
    )
    .await
    .err()
    .expect("must refuse");
    match &err {
        LinkError::Refused { code, message } => {
            assert_eq!(code, "forbidden");
            assert!(message.contains("not the one expected"), "{message}");
        }
        other => panic!("expected a refusal, got {other}"),
    }
    let master_err = master
        .await
        .unwrap()
        .err()
        .expect("no channel for the impostor");
    assert!(
        matches!(master_err, LinkError::FingerprintMismatch { .. }),
        "{master_err}"
    );
}

/// A signaling relay to `master` that passes everything but the ICE
/// candidates (their own messages, and any in the SDP): the two peers
/// never learn an address to check, as with no network path between them.
async fn relay_without_candidates(master: String) -> String {
    use outpost_link::signal::Signal;
    fn strip(sdp: String) -> String {
        sdp.split_inclusive('\n')
            .filter(|l| !l.starts_with("a=candidate"))
            .collect()
    }
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (stream, _) = listener.accept().await.unwrap();
        let mut slave = SignalSocket::accept(stream, Duration::from_secs(5))
            .await
            .unwrap();
        let mut master = SignalSocket::connect(&master, Duration::from_secs(5))
            .await
            .unwrap();
        loop {
            let (msg, to) = tokio::select! {
                m = slave.recv() => (m, &mut master),
                m = master.recv() => (m, &mut slave),
            };
            let msg = match msg {
                Ok(Some(Signal::Candidate { .. })) => continue,
                Ok(Some(Signal::Offer {
                    master,
                    sdp,
                    proof,
                    app,
                    protocol,
                    batches,
                })) => Signal::Offer {
                    master,
                    sdp: strip(sdp),
                    proof,
                    app,
                    protocol,
                    batches,
                },
                Ok(Some(Signal::Answer { sdp })) => Signal::Answer { sdp: strip(sdp) },
                Ok(Some(other)) => other,
                _ => return,
            };
            if to.send(&msg).await.is_err() {
                return;
            }
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slave_with_no_network_path_to_the_master_is_told_so() {
    let ids = ids();
    let (addr, _master) = one_master(ids.master.clone(), ids.slave.fingerprint().into()).await;
    let relay = relay_without_candidates(addr).await;
    let err = front_desk(&relay, &ids)
        .await
        .err()
        .expect("no path, no channel");
    // Said as a missing path (`handshake::NO_PATH`), not as the whole
    // handshake's time running out.
    assert!(
        matches!(err, LinkError::Rtc(_))
            && err.to_string().contains("no network path to the master"),
        "{err}"
    );
}
