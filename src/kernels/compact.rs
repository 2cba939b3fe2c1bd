//! Compaction: copies the long (non-inline) strings of a view array into owned arena buffers,
//! so that keys which outlive their batch stop holding the batch's input buffers alive.

use std::sync::Arc;

use arrow_array::{Array, StringViewArray};
use arrow_buffer::{Buffer, ScalarBuffer};

use crate::kernels::view::{MAX_INLINE, long_bytes, view_len};

/// Bytes per arena buffer at most (views address buffers with 32-bit offsets; Arrow
/// implementations expect buffers below 2 GiB).
const ARENA_BLOCK: usize = i32::MAX as usize;

/// A copy of `keys` whose long strings live in new arena buffers (as few as possible, each
/// below 2 GiB) and whose inline strings stay in their views; the input's buffers are not
/// referenced. Nulls are kept (their views become empty).
///
/// ```
/// use arrow_array::{Array, StringViewArray};
/// use dstreams::kernels::compact::compact;
///
/// let keys = StringViewArray::from(vec!["short", "a key longer than twelve bytes"]);
/// let owned = compact(&keys);
/// assert_eq!(owned, keys);
/// assert_eq!(owned.data_buffers().len(), 1);
/// assert_eq!(owned.data_buffers()[0].len(), 30);
/// ```
pub fn compact(keys: &StringViewArray) -> StringViewArray {
    compact_with_block(keys, ARENA_BLOCK)
}

fn compact_with_block(keys: &StringViewArray, block: usize) -> StringViewArray {
    let buffers = keys.data_buffers();
    let nulls = keys.nulls();
    let mut arenas: Vec<Buffer> = Vec::new();
    let mut arena: Vec<u8> = Vec::new();
    let views: Vec<u128> = keys
        .views()
        .iter()
        .enumerate()
        .map(|(i, &view)| {
            if nulls.is_some_and(|n| n.is_null(i)) {
                return 0;
            }
            if view_len(view) <= MAX_INLINE {
                return view;
            }
            let bytes = long_bytes(view, buffers);
            if !arena.is_empty() && arena.len() + bytes.len() > block {
                arenas.push(Buffer::from_vec(std::mem::take(&mut arena)));
            }
            let (index, offset) = (arenas.len() as u32, arena.len() as u32);
            arena.extend_from_slice(bytes);
            // Keep length and prefix (the low 64 bits), point at the copy.
            view as u64 as u128 | u128::from(index) << 64 | u128::from(offset) << 96
        })
        .collect();
    if !arena.is_empty() {
        arenas.push(Buffer::from_vec(arena));
    }
    // SAFETY: `new_unchecked` needs what `try_new` checks. Inline views and nulls' zero views
    // are unchanged or empty; a long view keeps its length and prefix and now names arena
    // `index` at `offset`, where exactly its bytes (read from a valid array, so valid UTF-8 of
    // that length) were copied; arenas are pushed in index order and an arena holds at most
    // `block <= i32::MAX` bytes unless a single string is longer (still below u32::MAX as its
    // length is a u32, starting at offset 0). The null buffer is the input's, same length.
    unsafe {
        StringViewArray::new_unchecked(ScalarBuffer::from(views), Arc::from(arenas), nulls.cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compacts_into_arenas() {
        let long: Vec<String> = (0..10).map(|i| format!("key number {i} is long")).collect();
        let mut values: Vec<Option<&str>> = long.iter().map(|s| Some(s.as_str())).collect();
        values.push(None);
        values.push(Some("tiny"));
        let keys = StringViewArray::from(values);
        for block in [1, 40, 100, ARENA_BLOCK] {
            let owned = compact_with_block(&keys, block);
            assert_eq!(owned, keys, "block {block}");
            for b in owned.data_buffers().iter() {
                assert!(b.len() <= block.max(21));
            }
            let (views, buffers, nulls) = owned.into_parts();
            StringViewArray::try_new(views, buffers, nulls).unwrap();
        }
        let empty = compact(&StringViewArray::from(Vec::<&str>::new()));
        assert_eq!(empty.len(), 0);
    }
}
