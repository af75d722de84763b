//! Deserializers for the odd types PVE sends: numbers as strings (`"100"`, `"0.25"`), booleans
//! as 0/1 (or `"1"`), and fields that are absent rather than null.

use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn number(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        _ => None,
    }
}

/// An optional unsigned integer sent as a number or a string.
pub(crate) fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(number).map(|n| n.max(0.0) as u64))
}

/// An unsigned integer sent as a number or a string; absent or unreadable is 0.
pub(crate) fn u64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    opt_u64(d).map(Option::unwrap_or_default)
}

/// A float sent as a number or a string; absent or unreadable is 0.
pub(crate) fn f64_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(value.as_ref().and_then(number).unwrap_or_default())
}

/// A boolean sent as `true`, `1`, `"1"` (and their opposites); absent is false.
pub(crate) fn bool_lenient<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    let value = Option::<Value>::deserialize(d)?;
    Ok(match value {
        Some(Value::Bool(b)) => b,
        Some(other) => number(&other).is_some_and(|n| n != 0.0),
        None => false,
    })
}

/// An integer VMID, sent as a number or a string.
pub(crate) fn vmid<'de, D: Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let value = Value::deserialize(d)?;
    number(&value)
        .filter(|n| n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| serde::de::Error::custom(format!("not a VMID: {value}")))
}

/// PVE's `;`- or `,`-separated tag list as a vector.
pub(crate) fn tags<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value
        .unwrap_or_default()
        .split([';', ',', ' '])
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect())
}
