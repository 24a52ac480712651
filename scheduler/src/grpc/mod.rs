//! The gRPC surface: the client and trainer services (thin adapters over the scheduler), the
//! conversions at the boundary, and the one error-to-status mapping.

pub mod clients;
pub mod convert;
pub mod status;
pub mod trainers;
