//! Reading messages off the wire: a request (on the master) and a
//! response or event (on a slave), every way they can be wrong with its
//! own error.

use serde_json::Value;

use super::{
    ApiError, ErrorCode, Incoming, Op, Request, RequestId, Response, MAX_MESSAGE_BYTES,
    PROTOCOL_VERSION,
};

/// Reads one request off the wire. Every way it can be wrong has its own
/// error; the `Err` is the response to send back.
pub fn decode_request(bytes: &[u8]) -> Result<Request, Response> {
    let fail = |id: Option<RequestId>, e: ApiError| Response { id, result: Err(e) };
    if bytes.len() > MAX_MESSAGE_BYTES {
        return Err(fail(
            None,
            ApiError::new(
                ErrorCode::TooLarge,
                format!(
                    "the message is {} bytes, more than the limit of {} bytes; send fewer records per call",
                    bytes.len(),
                    MAX_MESSAGE_BYTES
                ),
            ),
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| {
        fail(
            None,
            ApiError::bad_request(format!("the message is not valid JSON: {e}"))
                .with_details(serde_json::json!({"reason": "malformed_json", "line": e.line(), "column": e.column()})),
        )
    })?;
    let Value::Object(mut obj) = value else {
        return Err(fail(
            None,
            ApiError::bad_request("a request must be a JSON object with v, id, op and args")
                .with_details(serde_json::json!({"reason": "not_an_object"})),
        ));
    };
    let id: Option<RequestId> = obj
        .get("id")
        .cloned()
        .and_then(|v| serde_json::from_value(v).ok());
    let Some(id) = id else {
        return Err(fail(
            None,
            ApiError::bad_request("the request has no id (a number or a string)")
                .with_details(serde_json::json!({"reason": "missing_id"})),
        ));
    };
    let v = match obj.get("v") {
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => {
            return Err(fail(
                Some(id),
                ApiError::bad_request(format!(
                    "the request has no protocol version; send \"v\":{PROTOCOL_VERSION}"
                ))
                .with_details(
                    serde_json::json!({"reason": "version", "supported": [PROTOCOL_VERSION]}),
                ),
            ))
        }
    };
    if v != PROTOCOL_VERSION as u64 {
        return Err(fail(
            Some(id),
            ApiError::bad_request(format!(
                "protocol version {v} is not supported; this master speaks version {PROTOCOL_VERSION} (update Outpost on the older PC)"
            ))
            .with_details(serde_json::json!({"reason": "version", "supported": [PROTOCOL_VERSION]})),
        ));
    }
    let Some(Value::String(op)) = obj.remove("op") else {
        return Err(fail(
            Some(id),
            ApiError::bad_request("the request has no op")
                .with_details(serde_json::json!({"reason": "missing_op"})),
        ));
    };
    let args = obj.remove("args").unwrap_or(Value::Null);
    let op = Op::from_parts(&op, args).map_err(|e| fail(Some(id.clone()), e))?;
    Ok(Request {
        v: v as u32,
        id,
        op,
    })
}

/// What a message from a master is, read without building it: a
/// response (and the request it answers), or an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IncomingHead {
    Response(Option<RequestId>),
    Event,
}

/// Reads which call a message from a master answers, or that it is an
/// event, skipping the rest of it (no value built, nothing allocated but
/// the id). A slave's reader routes each answer with it, and the caller
/// decodes its own answer with [`decode_incoming`]: the answers of a
/// batch are decoded on the callers' tasks, not one after another on the
/// reader's. Invalid JSON is an error here; a message that is valid JSON
/// but not an object (an array is read as the fields in order) is refused
/// by the caller's [`decode_incoming`], as that call's error.
pub fn incoming_head(bytes: &[u8]) -> Result<IncomingHead, ApiError> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<RequestId>,
        ev: Option<serde::de::IgnoredAny>,
    }
    let head: Head = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the master sent invalid JSON: {e}")))?;
    Ok(match head.ev {
        Some(_) => IncomingHead::Event,
        None => IncomingHead::Response(head.id),
    })
}

/// Reads one message from a master (a response or an event).
pub fn decode_incoming(bytes: &[u8]) -> Result<Incoming, ApiError> {
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::bad_request(format!("the master sent invalid JSON: {e}")))?;
    if value.get("ev").is_some() {
        return serde_json::from_value(value)
            .map(Incoming::Event)
            .map_err(|e| ApiError::bad_request(format!("the master sent a malformed event: {e}")));
    }
    let Value::Object(mut obj) = value else {
        return Err(ApiError::bad_request(
            "the master sent a message that is not a JSON object",
        ));
    };
    let id = obj
        .remove("id")
        .and_then(|v| serde_json::from_value(v).ok());
    let result = if let Some(ok) = obj.remove("ok") {
        Ok(ok)
    } else if let Some(err) = obj.remove("err") {
        Err(serde_json::from_value(err).map_err(|e| {
            ApiError::bad_request(format!("the master sent a malformed error: {e}"))
        })?)
    } else {
        return Err(ApiError::bad_request(
            "the master sent a message that is neither a response nor an event",
        ));
    };
    Ok(Incoming::Response(Response { id, result }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{Event, GetArgs};

    fn err_of(bytes: &[u8]) -> ApiError {
        decode_request(bytes).unwrap_err().result.unwrap_err()
    }

    #[test]
    fn a_request_round_trips_through_json() {
        let req = Request::new(Op::Get(GetArgs {
            doctype: "Party".into(),
            name: "x".into(),
        }));
        assert_eq!(decode_request(req.encode().as_bytes()).unwrap(), req);
    }

    #[test]
    fn malformed_json_is_a_bad_request_saying_where() {
        let e = err_of(b"{\"v\":1,");
        assert_eq!(e.code, ErrorCode::BadRequest);
        assert!(e.message.contains("not valid JSON"), "{}", e.message);
        assert_eq!(e.details.unwrap()["reason"], "malformed_json");
    }

    #[test]
    fn unknown_op_names_the_op_and_keeps_the_id() {
        let r = decode_request(br#"{"v":1,"id":9,"op":"drop_table","args":{}}"#).unwrap_err();
        assert_eq!(r.id, Some(RequestId::Num(9)));
        let e = r.result.unwrap_err();
        assert!(
            e.message.contains("unknown op 'drop_table'"),
            "{}",
            e.message
        );
        assert_eq!(e.details.unwrap()["reason"], "unknown_op");
    }

    #[test]
    fn wrong_version_is_refused_with_the_supported_one() {
        let e = err_of(br#"{"v":2,"id":1,"op":"hello","args":{}}"#);
        assert!(e.message.contains("protocol version 2"), "{}", e.message);
        assert_eq!(e.details.unwrap()["supported"][0], 1);
        let e = err_of(br#"{"id":1,"op":"hello"}"#);
        assert_eq!(e.details.unwrap()["reason"], "version");
    }

    #[test]
    fn oversized_message_is_too_large() {
        let big = vec![b' '; MAX_MESSAGE_BYTES + 1];
        assert_eq!(err_of(&big).code, ErrorCode::TooLarge);
    }

    #[test]
    fn bad_arguments_say_which_op_and_field() {
        let e = err_of(br#"{"v":1,"id":1,"op":"get","args":{"doctype":"Party"}}"#);
        assert!(
            e.message.contains("bad arguments for 'get'"),
            "{}",
            e.message
        );
        assert!(e.message.contains("name"), "{}", e.message);
    }

    #[test]
    fn a_request_id_is_a_whole_number_or_a_string() {
        let id = |j: &str| serde_json::from_str::<RequestId>(j);
        assert_eq!(id("7").unwrap(), RequestId::Num(7));
        assert_eq!(id("\"7\"").unwrap(), RequestId::Text("7".into()));
        for bad in ["-1", "1.5", "null", "[1]", "{}"] {
            let e = id(bad).unwrap_err().to_string();
            assert!(e.contains("a request id"), "{bad}: {e}");
        }
        let v: RequestId = serde_json::from_value(serde_json::json!(9)).unwrap();
        assert_eq!(v, RequestId::Num(9));
    }

    #[test]
    fn the_head_of_a_message_names_its_call_or_says_event() {
        let r = Response {
            id: Some(RequestId::Text("a-1".into())),
            result: Ok(serde_json::json!({"name": "x", "items": [1, {"id": 2}]})),
        };
        assert_eq!(
            incoming_head(r.encode().as_bytes()).unwrap(),
            IncomingHead::Response(Some(RequestId::Text("a-1".into())))
        );
        let no_id = br#"{"err":{"code":"bad_request","message":"no"}}"#;
        assert_eq!(incoming_head(no_id).unwrap(), IncomingHead::Response(None));
        let ev = br#"{"ev":"changed","doctype":"Party","name":"a","rev":2,"op":"update","seq":5}"#;
        assert_eq!(incoming_head(ev).unwrap(), IncomingHead::Event);
        assert!(incoming_head(b"{\"id\":1,").is_err());
        assert!(incoming_head(b"[1]").is_err());
    }

    #[test]
    fn responses_and_events_decode() {
        let r = Response {
            id: Some(RequestId::Num(3)),
            result: Err(ApiError::new(ErrorCode::Conflict, "stale")),
        };
        assert_eq!(
            decode_incoming(r.encode().as_bytes()).unwrap(),
            Incoming::Response(r)
        );
        let ev = br#"{"ev":"changed","doctype":"Party","name":"a","rev":2,"op":"update","seq":5}"#;
        assert!(matches!(
            decode_incoming(ev).unwrap(),
            Incoming::Event(Event::Changed { rev: 2, .. })
        ));
    }
}
