//! Errors of the app's commands. The window gets each as the protocol's
//! error object, with a code it can branch on and words a clerk can act on.

use outpost_api::{ApiError, ErrorCode};
use serde_json::json;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// A DB or connection error, already in the protocol's shape.
    #[error("{}", .0.message)]
    Api(Box<ApiError>),
    #[error("{count} PC(s) are connected to this master; they lose the office database when master mode is turned off")]
    DevicesConnected { count: usize },
    #[error("this PC is not the master; turn on \"This PC is the master\" in Settings first")]
    NotMaster,
    #[error("this PC is the master; turn master mode off in Settings before connecting to another master")]
    NotSlave,
    #[error("this PC is not the office's standby; the master makes a paired PC its standby from its device list")]
    NotStandby,
    #[error("this PC keeps the office's standby copy; to make it the master, use \"Make this PC the office's master\" on its Standby screen once the master is gone")]
    IsStandby,
    #[error("this PC could not be made the office's master: {0}; it goes on as the standby")]
    Promote(Box<outpost_node::NodeError>),
    #[error("{0}")]
    BadInput(String),
    /// A form value that cannot be used; `field` names it for the window.
    #[error("{message}")]
    Field {
        field: &'static str,
        message: String,
    },
    /// The head office refused or could not be reached (test connection).
    #[error("{}", .0.message)]
    HeadOffice(outpost_sync::SyncError),
    #[error(transparent)]
    Node(Box<outpost_node::NodeError>),
    #[error("cannot write to the data folder: {0}")]
    Io(#[from] std::io::Error),
    /// The update from the master could not be had or checked.
    #[error("{0}")]
    Update(String),
}

// Boxed: an `AppError` travels in every command's `Result`, and the
// protocol error and the node's errors are large.
impl From<ApiError> for AppError {
    fn from(e: ApiError) -> AppError {
        AppError::Api(Box::new(e))
    }
}

/// Store errors take the protocol's mapping (not found, bad request ...).
impl From<outpost_store::StoreError> for AppError {
    fn from(e: outpost_store::StoreError) -> AppError {
        AppError::Api(Box::new(outpost_api::error::from_store(e)))
    }
}

impl From<outpost_node::NodeError> for AppError {
    fn from(e: outpost_node::NodeError) -> AppError {
        match e {
            outpost_node::NodeError::Store(s) => AppError::from(s),
            other => AppError::Node(Box::new(other)),
        }
    }
}

impl AppError {
    /// The protocol's error object for this error.
    pub fn to_api(&self) -> ApiError {
        let message = self.to_string();
        match self {
            AppError::Api(e) => (**e).clone(),
            AppError::DevicesConnected { count } => ApiError::new(ErrorCode::Conflict, message)
                .with_details(json!({
                    "reason": "devices_connected", "count": count
                })),
            AppError::NotMaster => ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "not_master"})),
            AppError::NotSlave => ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "not_slave"})),
            AppError::NotStandby => ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "not_standby"})),
            AppError::IsStandby => ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "is_standby"})),
            AppError::Promote(_) => ApiError::new(ErrorCode::Unavailable, message)
                .with_details(json!({"reason": "promote_failed"})),
            AppError::BadInput(_) => ApiError::new(ErrorCode::BadRequest, message),
            AppError::Field { field, .. } => ApiError::new(ErrorCode::BadRequest, message)
                .with_details(json!({"reason": "invalid_field", "field": field})),
            AppError::HeadOffice(e) => {
                use outpost_sync::ErrorClass;
                let code = match e.class {
                    ErrorClass::Auth => ErrorCode::Unauthorized,
                    ErrorClass::Retryable => ErrorCode::Unavailable,
                    ErrorClass::Conflict | ErrorClass::Rejected => ErrorCode::BadRequest,
                };
                ApiError::new(code, message).with_details(json!({"reason": "head_office"}))
            }
            AppError::Node(e) => match &**e {
                outpost_node::NodeError::DuplicateName { .. }
                | outpost_node::NodeError::Config(_)
                | outpost_node::NodeError::Link(outpost_link::LinkError::BadUrl(_)) => {
                    ApiError::new(ErrorCode::BadRequest, message)
                }
                outpost_node::NodeError::Link(outpost_link::LinkError::Discovery(_)) => {
                    ApiError::new(ErrorCode::Unavailable, message)
                }
                outpost_node::NodeError::Listen { .. } => {
                    ApiError::new(ErrorCode::Unavailable, message)
                }
                _ => ApiError::new(ErrorCode::Internal, message),
            },
            AppError::Io(_) => ApiError::new(ErrorCode::Internal, message),
            AppError::Update(_) => ApiError::new(ErrorCode::Unavailable, message)
                .with_details(json!({"reason": "update"})),
        }
    }
}

impl serde::Serialize for AppError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_api().serialize(s)
    }
}
