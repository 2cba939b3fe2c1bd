//! Strings and byte strings: `StringViewArray` / `BinaryViewArray` columns whose views point into
//! input buffers whenever the pushed bytes lie in one.

use super::view::{ByteStr, ScopeId, Str};
use super::{Column, ColumnBuilder, Data, Sources, Value, downcast_non_null};
use crate::error::Result;
use arrow_array::builder::make_view;
use arrow_array::types::ByteViewType;
use arrow_array::{
    Array, ArrayRef, BinaryViewArray, GenericByteViewArray, LargeStringArray, StringArray,
    StringViewArray,
};
use arrow_buffer::{Buffer, ScalarBuffer};
use arrow_schema::DataType;
use std::fmt;
use std::sync::Arc;

/// Bytes copied into one owned block before a new one is started (4 KiB under Miri, so that
/// tests roll blocks over with inputs small enough to interpret).
const OWNED_BLOCK: usize = if cfg!(miri) { 4 << 10 } else { 1 << 20 };
/// Views store offsets as `u32`.
const MAX_OFFSET: usize = u32::MAX as usize;

/// Views plus the blocks they point into; shared by the string and byte-string builders.
pub(crate) struct ViewBuilder {
    views: Vec<u128>,
    blocks: Vec<Buffer>,
    /// For each source buffer, its block index once adopted.
    adopted: Vec<Option<u32>>,
    sources: Sources,
    owned: Vec<u8>,
}

impl ViewBuilder {
    pub(crate) fn new(capacity: usize, sources: &Sources) -> Self {
        ViewBuilder {
            views: Vec::with_capacity(capacity),
            blocks: Vec::new(),
            adopted: Vec::new(),
            sources: sources.clone(),
            owned: Vec::new(),
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        // A view stores the length as a `u32`: a longer string would be cut short (possibly
        // inside a UTF-8 sequence), which `finish`'s unchecked construction must never see.
        assert!(
            bytes.len() <= MAX_OFFSET,
            "a string of {} bytes is longer than a view can describe",
            bytes.len()
        );
        if bytes.len() <= 12 {
            self.views.push(make_view(bytes, 0, 0));
            return;
        }
        if let Some((src, offset)) = self.sources.locate(bytes)
            && offset <= MAX_OFFSET
        {
            let block = self.adopt(src);
            self.views.push(make_view(bytes, block, offset as u32));
            return;
        }
        self.push_copy(bytes);
    }

    fn adopt(&mut self, src: usize) -> u32 {
        if self.adopted.len() <= src {
            self.adopted.resize(src + 1, None);
        }
        if let Some(block) = self.adopted[src] {
            return block;
        }
        // Copied bytes were promised the next block index: seal them before adopting.
        if !self.owned.is_empty() {
            self.flush_owned();
        }
        self.blocks.push(self.sources.buffer(src).clone());
        let block = (self.blocks.len() - 1) as u32;
        self.adopted[src] = Some(block);
        block
    }

    fn push_copy(&mut self, bytes: &[u8]) {
        if !self.owned.is_empty() && self.owned.len() + bytes.len() > OWNED_BLOCK {
            self.flush_owned();
        }
        // The owned block being filled gets the next block index when flushed.
        let block = self.blocks.len() as u32;
        let offset = self.owned.len() as u32;
        self.owned.extend_from_slice(bytes);
        self.views.push(make_view(bytes, block, offset));
    }

    fn flush_owned(&mut self) {
        let owned = std::mem::take(&mut self.owned);
        self.blocks.push(Buffer::from_vec(owned));
    }

    pub(crate) fn push_empty(&mut self) {
        self.views.push(0);
    }

    pub(crate) fn len(&self) -> usize {
        self.views.len()
    }

    fn finish(mut self) -> (ScalarBuffer<u128>, Vec<Buffer>) {
        if !self.owned.is_empty() {
            self.flush_owned();
        }
        (ScalarBuffer::from(self.views), self.blocks)
    }
}

/// A view array without nulls as a column: the array itself, its buffers shared. A null buffer
/// that marks nothing null is dropped (re-validating the views), as columns have none.
fn views_column<T: ByteViewType + ?Sized>(
    array: &GenericByteViewArray<T>,
) -> Result<GenericByteViewArray<T>> {
    debug_assert_eq!(array.null_count(), 0);
    if array.nulls().is_none() {
        return Ok(array.clone());
    }
    let (views, buffers, _) = array.clone().into_parts();
    Ok(GenericByteViewArray::try_new(views, buffers, None)?)
}

impl Data for String {
    type Ref<'a> = &'a str;
    type Arg = Str;
    type Column = StringViewArray;
    type Builder = StringColumnBuilder;

    fn to_owned_value(r: &str) -> Self {
        r.to_owned()
    }
    fn shorten<'a, 'b: 'a>(r: &'b str) -> &'a str {
        r
    }
    fn arg(r: &str, scope: ScopeId) -> Str {
        Str::new(r, scope)
    }
    fn fmt_spark(r: &str, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(r)
    }
    fn data_type() -> DataType {
        DataType::Utf8View
    }
    /// A `Utf8View` array is shared as it is. `Utf8` and `LargeUtf8` arrays (what other writers
    /// produce) become views into their byte buffer, which is shared; only bytes past the 4 GiB a
    /// view's `u32` offset can reach are copied instead (Arrow's conversion).
    fn column_from_arrow(array: &ArrayRef) -> Result<StringViewArray> {
        let views = match array.data_type() {
            DataType::Utf8 => downcast_non_null::<Self, StringArray>(array)?.into(),
            DataType::LargeUtf8 => downcast_non_null::<Self, LargeStringArray>(array)?.into(),
            _ => return views_column(downcast_non_null::<Self, StringViewArray>(array)?),
        };
        Ok(views)
    }
    fn string_views(col: &StringViewArray) -> Option<&StringViewArray> {
        Some(col)
    }
    #[inline]
    fn as_str<'a>(r: Self::Ref<'a>) -> Option<&'a str> {
        Some(r)
    }
    fn column_from_string_views(views: StringViewArray) -> Option<StringViewArray> {
        Some(views)
    }
}

impl Column for StringViewArray {
    type Item = String;
    fn len(&self) -> usize {
        Array::len(self)
    }
    #[inline]
    fn value(&self, i: usize) -> &str {
        StringViewArray::value(self, i)
    }
    fn to_arrow(&self) -> ArrayRef {
        Arc::new(self.clone())
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        out.extend(self.data_buffers().iter().cloned());
    }
    fn empty() -> Self {
        StringViewArray::new_null(0)
    }
}

/// Builds a `String` column (a `StringViewArray`).
pub struct StringColumnBuilder(ViewBuilder);

impl ColumnBuilder for StringColumnBuilder {
    type Item = String;
    fn new(capacity: usize, sources: &Sources) -> Self {
        StringColumnBuilder(ViewBuilder::new(capacity, sources))
    }
    #[inline]
    fn push_ref(&mut self, v: &str) {
        self.0.push(v.as_bytes());
    }
    fn push(&mut self, v: String) {
        self.0.push(v.as_bytes());
    }
    fn push_placeholder(&mut self) {
        self.0.push_empty();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> StringViewArray {
        let (views, blocks) = self.0.finish();
        // SAFETY: `new_unchecked` needs what `try_new` checks. Every view was made by
        // `make_view` from the bytes of a `&str` (valid UTF-8) or is the empty view 0: inline
        // views hold those bytes, zero-padded; other views name a block that holds exactly those
        // bytes at the recorded offset (an adopted source buffer, which `Sources::locate` found
        // to contain them and which is immutable, or an owned block the bytes were copied into).
        // Lengths fit in u32 (asserted in `push`), offsets too (checked before adopting; an
        // owned block starts a new one past `OWNED_BLOCK`), and blocks are appended in the order
        // their indices were handed out. There is no null buffer. Checked against `try_new` by
        // `tests::unchecked_arrays_pass_arrow_validation`.
        unsafe { StringViewArray::new_unchecked(views, blocks.into(), None) }
    }
}

impl Value for &str {
    type Data = String;
    #[inline]
    fn append_to(self, b: &mut StringColumnBuilder) {
        b.push_ref(self);
    }
    #[inline]
    fn view(&self) -> Option<&str> {
        Some(self)
    }
}

impl Value for String {
    type Data = String;
    fn append_to(self, b: &mut StringColumnBuilder) {
        b.push_ref(&self);
    }
    fn view(&self) -> Option<&str> {
        Some(self)
    }
}

impl Value for &String {
    type Data = String;
    fn append_to(self, b: &mut StringColumnBuilder) {
        b.push_ref(self);
    }
    fn view(&self) -> Option<&str> {
        Some(self)
    }
}

/// An owned byte string; its column is a `BinaryViewArray` and closures see `&[u8]`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ByteString(pub Vec<u8>);

impl Data for ByteString {
    type Ref<'a> = &'a [u8];
    type Arg = ByteStr;
    type Column = BinaryViewArray;
    type Builder = BinaryColumnBuilder;

    fn to_owned_value(r: &[u8]) -> Self {
        ByteString(r.to_vec())
    }
    fn shorten<'a, 'b: 'a>(r: &'b [u8]) -> &'a [u8] {
        r
    }
    fn arg(r: &[u8], scope: ScopeId) -> ByteStr {
        ByteStr::new(r, scope)
    }
    /// Scala prints `Array[Byte]` as an opaque reference; we print the bytes as lossy UTF-8.
    fn fmt_spark(r: &[u8], f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(r))
    }
    fn data_type() -> DataType {
        DataType::BinaryView
    }
    /// Shares the array as it is.
    fn column_from_arrow(array: &ArrayRef) -> Result<BinaryViewArray> {
        views_column(downcast_non_null::<Self, BinaryViewArray>(array)?)
    }
}

impl Column for BinaryViewArray {
    type Item = ByteString;
    fn len(&self) -> usize {
        Array::len(self)
    }
    fn value(&self, i: usize) -> &[u8] {
        BinaryViewArray::value(self, i)
    }
    fn to_arrow(&self) -> ArrayRef {
        Arc::new(self.clone())
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        out.extend(self.data_buffers().iter().cloned());
    }
    fn empty() -> Self {
        BinaryViewArray::new_null(0)
    }
}

/// Builds a [`ByteString`] column (a `BinaryViewArray`).
pub struct BinaryColumnBuilder(ViewBuilder);

impl ColumnBuilder for BinaryColumnBuilder {
    type Item = ByteString;
    fn new(capacity: usize, sources: &Sources) -> Self {
        BinaryColumnBuilder(ViewBuilder::new(capacity, sources))
    }
    fn push_ref(&mut self, v: &[u8]) {
        self.0.push(v);
    }
    fn push(&mut self, v: ByteString) {
        self.0.push(&v.0);
    }
    fn push_placeholder(&mut self) {
        self.0.push_empty();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn finish(self) -> BinaryViewArray {
        let (views, blocks) = self.0.finish();
        // SAFETY: as for strings, every view describes bytes at a valid offset of the block it
        // names (binary views carry no UTF-8 requirement). Checked against `try_new` by
        // `tests::unchecked_arrays_pass_arrow_validation`.
        unsafe { BinaryViewArray::new_unchecked(views, blocks.into(), None) }
    }
}

impl Value for &[u8] {
    type Data = ByteString;
    fn append_to(self, b: &mut BinaryColumnBuilder) {
        b.push_ref(self);
    }
    fn view(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl Value for ByteString {
    type Data = ByteString;
    fn append_to(self, b: &mut BinaryColumnBuilder) {
        b.push(self);
    }
    fn view(&self) -> Option<&[u8]> {
        Some(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substrings_of_a_source_become_views_and_others_are_copied() {
        let text = "the quick brown fox jumps over the extraordinarily lazy dog";
        let input = StringViewArray::from(vec![text]);
        let sources = Sources::of_columns([&input]);
        let mut b = StringColumnBuilder::new(4, &sources);
        let line = Column::value(&input, 0);
        let long_word = line.split(' ').find(|w| w.len() > 12).unwrap();
        b.push_ref(long_word);
        b.push_ref("fox");
        let upper = long_word.to_uppercase();
        b.push_ref(&upper);
        let out = b.finish();
        assert_eq!(Column::value(&out, 0), "extraordinarily");
        assert_eq!(Column::value(&out, 1), "fox");
        assert_eq!(Column::value(&out, 2), "EXTRAORDINARILY");
        // The long word points into the input's buffer, not a copy.
        assert_eq!(Column::value(&out, 0).as_ptr(), long_word.as_ptr());
        assert_ne!(Column::value(&out, 2).as_ptr(), upper.as_ptr());
    }

    #[test]
    fn owned_blocks_roll_over_without_losing_values() {
        // Three owned blocks' worth of 1000-byte strings.
        let count = 3 * OWNED_BLOCK / 1000;
        let big: Vec<String> = (0..count).map(|i| format!("{i:0>1000}")).collect();
        let col = super::super::column_from_values(big.clone());
        for (i, s) in big.iter().enumerate() {
            assert_eq!(Column::value(&col, i), s);
        }
        assert!(col.data_buffers().len() > 1);
    }

    #[test]
    fn unchecked_arrays_pass_arrow_validation() {
        // The SAFETY arguments of both `finish`es, checked by Arrow's own validation: views
        // adopted from two sources, copied ones rolling over owned blocks in between, inline
        // ones and placeholders.
        let a = StringViewArray::from(vec!["na\u{ef}ve caf\u{e9} \u{1f980} with a long tail"]);
        let b = StringViewArray::from(vec!["another source buffer, also long"]);
        let sources = Sources::of_columns([&a, &b]);
        let (line_a, line_b) = (Column::value(&a, 0), Column::value(&b, 0));
        let copied = "c".repeat(OWNED_BLOCK / 2 + 1);
        let mut s = StringColumnBuilder::new(8, &sources);
        s.push(copied.clone());
        s.push(copied.clone()); // rolls the owned block over
        s.push_ref(&line_a[6..]); // adopted: the pending owned block is sealed first
        s.push_ref(line_b);
        s.push_placeholder();
        s.push(copied.clone());
        s.push_ref("\u{e9}t\u{e9}");
        s.push_ref(&line_a[..20]);
        let strings = s.finish();
        assert_eq!(strings.data_buffers().len(), 5);
        let expected = [
            copied.as_str(),
            copied.as_str(),
            &line_a[6..],
            line_b,
            "",
            copied.as_str(),
            "\u{e9}t\u{e9}",
            &line_a[..20],
        ];
        assert_eq!(strings.iter().flatten().collect::<Vec<_>>(), expected);
        assert_eq!(Column::value(&strings, 2).as_ptr(), line_a[6..].as_ptr());
        let (views, buffers, nulls) = strings.clone().into_parts();
        assert_eq!(
            StringViewArray::try_new(views, buffers, nulls).unwrap(),
            strings
        );

        let raw = BinaryViewArray::from(vec![&b"\xff\xfe binary, not UTF-8 at all"[..]]);
        let sources = Sources::of_columns([&raw]);
        let mut bin = BinaryColumnBuilder::new(4, &sources);
        bin.push_ref(&Column::value(&raw, 0)[1..]);
        bin.push(ByteString(vec![0x80; OWNED_BLOCK]));
        bin.push_placeholder();
        bin.push(ByteString(vec![0xc3; 13]));
        let binary = bin.finish();
        assert_eq!(
            binary.value(0).as_ptr(),
            Column::value(&raw, 0)[1..].as_ptr()
        );
        assert_eq!(binary.value(3), [0xc3; 13]);
        let (views, buffers, nulls) = binary.clone().into_parts();
        assert_eq!(
            BinaryViewArray::try_new(views, buffers, nulls).unwrap(),
            binary
        );
    }

    #[test]
    fn byte_strings_round_trip() {
        let col = super::super::column_from_values(vec![
            ByteString(vec![0xff, 0, 1]),
            ByteString(b"a long byte string here".to_vec()),
        ]);
        assert_eq!(Column::value(&col, 0), &[0xff, 0, 1]);
        assert_eq!(Column::value(&col, 1), b"a long byte string here");
    }
}
