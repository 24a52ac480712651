//! The `skippy.training.v1` protocol: generated messages, clients and servers, and the file
//! descriptor set for server reflection (so `grpcurl` works without `.proto` files).

/// Version 1 of the protocol.
pub mod v1 {
    #![allow(missing_docs, clippy::all, clippy::pedantic)]
    tonic::include_proto!("skippy.training.v1");

    /// The encoded `FileDescriptorSet` of `skippy/training/v1/training.proto`.
    pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("skippy_training_v1_descriptor");
}
