//! Reading and writing named `f32` tensors as safetensors, the format other tools
//! (PyTorch, candle, numpy) read without our code.

use std::collections::HashMap;

use safetensors::tensor::{Dtype, SafeTensors, TensorView};

/// A named tensor to write.
#[derive(Debug, Clone)]
pub struct NamedTensor<'a> {
    /// Tensor name.
    pub name: String,
    /// Shape (row-major).
    pub shape: Vec<usize>,
    /// Values, `shape.product()` long.
    pub data: &'a [f32],
}

/// A safetensors file that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum TensorError {
    /// Not a valid safetensors buffer.
    #[error("not a valid safetensors file: {0}")]
    Format(String),
    /// A tensor of another type than f32.
    #[error("tensor {0} is not f32")]
    Dtype(String),
    /// A tensor or metadata entry that should be there is not.
    #[error("missing {0}")]
    Missing(String),
}

/// Serialises tensors plus string metadata.
pub fn write(tensors: &[NamedTensor<'_>], metadata: HashMap<String, String>) -> Vec<u8> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|t| (t.name.clone(), t.shape.clone(), t.data.iter().flat_map(|v| v.to_le_bytes()).collect()))
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(name, shape, b)| {
            (name.clone(), TensorView::new(Dtype::F32, shape.clone(), b).expect("shape matches data"))
        })
        .collect();
    safetensors::serialize(views, Some(metadata)).expect("in-memory serialisation of valid views")
}

/// Tensors by name.
pub type Tensors = HashMap<String, Vec<f32>>;

/// Every f32 tensor of a buffer, and its metadata.
pub fn read(buffer: &[u8]) -> Result<(Tensors, HashMap<String, String>), TensorError> {
    let (_, meta) = SafeTensors::read_metadata(buffer).map_err(|e| TensorError::Format(e.to_string()))?;
    let st = SafeTensors::deserialize(buffer).map_err(|e| TensorError::Format(e.to_string()))?;
    let mut out = HashMap::new();
    for (name, view) in st.tensors() {
        if view.dtype() != Dtype::F32 {
            return Err(TensorError::Dtype(name));
        }
        let values = view.data().chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
        out.insert(name, values);
    }
    Ok((out, meta.metadata().clone().unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_tensors_and_metadata_and_rejects_garbage() {
        let a = [1.0f32, -2.5, 3.25, 0.0];
        let t = [NamedTensor { name: "a".into(), shape: vec![2, 2], data: &a }];
        let bytes = write(&t, HashMap::from([("k".to_string(), "v".to_string())]));
        let (tensors, meta) = read(&bytes).unwrap();
        assert_eq!(tensors["a"], a.to_vec());
        assert_eq!(meta["k"], "v");
        assert!(read(b"not a tensor file").is_err());
        assert!(read(&bytes[..bytes.len() - 3]).is_err());
    }
}
