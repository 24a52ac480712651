//! The `skippy.training.v1` protocol. The `.proto` files and their generated code arrive
//! with the job system (issue 3); until then this crate is empty on purpose.
