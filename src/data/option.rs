//! `Option<T>`: the sides of outer joins. A column of `T` plus a validity bitmap.

use super::view::ScopeId;
use super::{Column, ColumnBuilder, Data, Sources, Value};
use crate::error::{Error, Result};
use arrow_array::{Array, ArrayRef, make_array};
use arrow_buffer::{BooleanBufferBuilder, Buffer, NullBuffer};
use arrow_schema::DataType;
use std::fmt;

/// A column of `Option<T>`: values (placeholders under nulls) and which slots are `Some`.
pub struct OptionColumn<T: Data> {
    values: T::Column,
    nulls: Option<NullBuffer>,
}

impl<T: Data> Clone for OptionColumn<T> {
    fn clone(&self) -> Self {
        OptionColumn {
            values: self.values.clone(),
            nulls: self.nulls.clone(),
        }
    }
}

impl<T: Data> Data for Option<T> {
    type Ref<'a> = Option<T::Ref<'a>>;
    type Arg = Option<T::Arg>;
    type Column = OptionColumn<T>;
    type Builder = OptionBuilder<T>;
    fn to_owned_value(r: Self::Ref<'_>) -> Self {
        r.map(T::to_owned_value)
    }
    fn shorten<'a, 'b: 'a>(r: Self::Ref<'b>) -> Self::Ref<'a> {
        r.map(T::shorten)
    }
    fn arg(r: Self::Ref<'_>, scope: ScopeId) -> Option<T::Arg> {
        r.map(|v| T::arg(v, scope))
    }
    fn fmt_spark(r: Self::Ref<'_>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match r {
            Some(v) => {
                f.write_str("Some(")?;
                T::fmt_spark(v, f)?;
                f.write_str(")")
            }
            None => f.write_str("None"),
        }
    }
    fn data_type() -> DataType {
        T::data_type()
    }
    /// Shares the array's null buffer and rebuilds the values column from the array without it
    /// (the buffers shared, the array re-validated). Fails for `Option<Option<T>>`: `to_arrow`
    /// keeps only the outer null buffer, so a `Some(None)` is a placeholder value under a valid
    /// slot there, indistinguishable from a `Some(Some(_))`.
    fn column_from_arrow(array: &ArrayRef) -> Result<OptionColumn<T>> {
        if T::IS_OPTION {
            return Err(Error::Unsupported(format!(
                "an Option<Option<_>> column cannot be rebuilt from an Arrow array (of type {}): \
                 its one null buffer cannot tell None from Some(None)",
                array.data_type()
            )));
        }
        let nulls = array.nulls().filter(|n| n.null_count() > 0).cloned();
        let values = if nulls.is_some() {
            let data = array.to_data().into_builder().nulls(None).build()?;
            T::column_from_arrow(&make_array(data))?
        } else {
            T::column_from_arrow(array)?
        };
        Ok(OptionColumn { values, nulls })
    }
    const IS_OPTION: bool = true;
}

impl<T: Data> Column for OptionColumn<T> {
    type Item = Option<T>;
    fn len(&self) -> usize {
        self.values.len()
    }
    #[inline]
    fn value(&self, i: usize) -> Option<T::Ref<'_>> {
        match &self.nulls {
            Some(n) if n.is_null(i) => None,
            _ => Some(self.values.value(i)),
        }
    }
    fn to_arrow(&self) -> ArrayRef {
        let inner = self.values.to_arrow().to_data();
        let data = inner.into_builder().nulls(self.nulls.clone());
        // The validity bitmap has exactly `len` bits, built alongside the values.
        make_array(
            data.build()
                .expect("validity bitmap matches the column length"),
        )
    }
    fn data_buffers(&self, out: &mut Vec<Buffer>) {
        self.values.data_buffers(out);
    }
    fn empty() -> Self {
        OptionColumn {
            values: T::Column::empty(),
            nulls: None,
        }
    }
}

/// Builds an `Option<T>` column.
pub struct OptionBuilder<T: Data> {
    values: T::Builder,
    validity: BooleanBufferBuilder,
    nulls: usize,
}

impl<T: Data> ColumnBuilder for OptionBuilder<T> {
    type Item = Option<T>;
    fn new(capacity: usize, sources: &Sources) -> Self {
        OptionBuilder {
            values: T::Builder::new(capacity, sources),
            validity: BooleanBufferBuilder::new(capacity),
            nulls: 0,
        }
    }
    fn push_ref(&mut self, v: Option<T::Ref<'_>>) {
        match v {
            Some(v) => {
                self.values.push_ref(v);
                self.validity.append(true);
            }
            None => self.push_none(),
        }
    }
    fn push(&mut self, v: Option<T>) {
        match v {
            Some(v) => {
                self.values.push(v);
                self.validity.append(true);
            }
            None => self.push_none(),
        }
    }
    fn push_placeholder(&mut self) {
        self.push_none();
    }
    fn len(&self) -> usize {
        self.values.len()
    }
    fn finish(mut self) -> OptionColumn<T> {
        let validity = self.validity.finish();
        let nulls = (self.nulls > 0).then(|| NullBuffer::new(validity));
        OptionColumn {
            values: self.values.finish(),
            nulls,
        }
    }
}

impl<T: Data> OptionBuilder<T> {
    fn push_none(&mut self) {
        self.values.push_placeholder();
        self.validity.append(false);
        self.nulls += 1;
    }
    pub(crate) fn values_mut(&mut self) -> &mut T::Builder {
        &mut self.values
    }
    pub(crate) fn mark_some(&mut self) {
        self.validity.append(true);
    }
}

impl<V: Value> Value for Option<V> {
    type Data = Option<V::Data>;
    fn append_to(self, b: &mut OptionBuilder<V::Data>) {
        match self {
            Some(v) => {
                v.append_to(b.values_mut());
                b.mark_some();
            }
            None => b.push_placeholder(),
        }
    }
    fn view(&self) -> Option<<Self::Data as Data>::Ref<'_>> {
        match self {
            Some(v) => Some(Some(v.view()?)),
            None => Some(None),
        }
    }
}
