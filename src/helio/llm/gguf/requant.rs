//! Re-quantizing weights that candle can only multiply slowly.
//!
//! candle 0.11 picks AVX2 kernels at run time for Q4_0, Q8_0 and the K-quants, but multiplies Q4_1,
//! Q5_0 and Q5_1 with scalar code: the default model, SmolLM2-135M in Q4_1, decoded 2.6 tokens/s
//! that way on the 2-core dev machine while another build shared its cores; rewritten it decodes
//! 35-39 tokens/s there when the cores are free, 7 or less when they are not (the `speed` test).
//! So on a CPU with AVX2 and FMA those tensors are rewritten as
//! Q8_0 at load: every 4- or 5-bit value of a block fits 8 bits with a scale of its own, so the
//! weights lose next to nothing (the error is at most 1/254 of the block's largest weight, far below
//! what the 4-bit quantization already cost), and the products run on Q8_0's kernel. The price is
//! memory: Q8_0 takes 34 bytes per 32 weights against Q4_1's 20, and loading briefly holds the whole
//! model twice. Files without those types are read as they are.

use std::io::{Cursor, Read, Seek};

use candle_core::quantized::gguf_file::Content;
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::Device;

/// Whether candle multiplies `dtype` with scalar code on this CPU while Q8_0 has a SIMD kernel.
fn slow_here(dtype: GgmlDType) -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        matches!(dtype, GgmlDType::Q4_1 | GgmlDType::Q5_0 | GgmlDType::Q5_1)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        let _ = dtype;
        false
    }
}

/// If `content` has tensors [`slow_here`], rewrites them as Q8_0: returns the tensor data, all
/// tensors included, as an in-memory file that `content` (updated in place) now describes. `None`
/// when there is nothing to rewrite; then read the weights from `reader` as usual.
pub(crate) fn requantize_slow_tensors<R: Read + Seek>(
    content: &mut Content,
    reader: &mut R,
) -> candle_core::Result<Option<Cursor<Vec<u8>>>> {
    if !content
        .tensor_infos
        .values()
        .any(|info| slow_here(info.ggml_dtype))
    {
        return Ok(None);
    }
    let device = Device::Cpu;
    let mut names: Vec<String> = content.tensor_infos.keys().cloned().collect();
    names.sort();
    let mut data = Vec::new();
    for name in names {
        let mut tensor = content.tensor(reader, &name, &device)?;
        if slow_here(tensor.dtype()) {
            tensor = QTensor::quantize(&tensor.dequantize(&device)?, GgmlDType::Q8_0)?;
        }
        // GGUF aligns tensor data to 32 bytes; keep that, the kernels read blocks in place.
        data.resize(data.len().div_ceil(32) * 32, 0);
        let offset = data.len() as u64;
        data.extend_from_slice(&tensor.data()?);
        if let Some(info) = content.tensor_infos.get_mut(&name) {
            info.ggml_dtype = tensor.dtype();
            info.offset = offset;
        }
    }
    content.tensor_data_offset = 0;
    Ok(Some(Cursor::new(data)))
}
