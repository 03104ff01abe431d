//! The module's options (ceph's `get_module_option`): the operator's value, else the
//! declared default.

use crate::wit::ceph::mgr::mgr;
use crate::{OptionValue, Result};

/// The value of a declared option; none if neither set nor defaulted, `not-found` if
/// the module did not declare it.
pub fn get(name: &str) -> Result<Option<OptionValue>> {
    mgr::get_option(name)
}

/// A string option; none if unset, undeclared or not a string.
pub fn get_str(name: &str) -> Option<String> {
    match get(name) {
        Ok(Some(OptionValue::Str(value))) => Some(value),
        _ => None,
    }
}

/// An integer option (`int`, `uint`, `secs`, `size`); none if unset, undeclared or not an integer.
pub fn get_int(name: &str) -> Option<i64> {
    match get(name) {
        Ok(Some(OptionValue::Int(value))) => Some(value),
        _ => None,
    }
}

/// A float option (integers widen); none if unset, undeclared or not a number.
pub fn get_float(name: &str) -> Option<f64> {
    match get(name) {
        Ok(Some(OptionValue::Float(value))) => Some(value),
        Ok(Some(OptionValue::Int(value))) => Some(value as f64),
        _ => None,
    }
}

/// A boolean option; none if unset, undeclared or not a boolean.
pub fn get_bool(name: &str) -> Option<bool> {
    match get(name) {
        Ok(Some(OptionValue::Bool(value))) => Some(value),
        _ => None,
    }
}
