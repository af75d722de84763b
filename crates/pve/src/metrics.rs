//! RRD data for nodes and guests over PVE's time frames, as typed points.

use serde::Deserialize;

use crate::Client;
use crate::de;
use crate::error::Error;
use crate::guests::valid_node;

/// PVE's RRD time frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Timeframe {
    Hour,
    Day,
    Week,
    Month,
    Year,
}

impl Timeframe {
    /// PVE's name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
            Self::Week => "week",
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// One RRD point; fields a node or guest does not report are 0.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
pub struct RrdPoint {
    /// Unix time.
    #[serde(deserialize_with = "de::u64_lenient")]
    pub time: u64,
    /// CPU use, 0 to 1.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub cpu: f64,
    /// Guest memory used / size, bytes.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub mem: f64,
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub maxmem: f64,
    /// Node memory used / size, bytes.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub memused: f64,
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub memtotal: f64,
    /// Bytes per second in and out.
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub netin: f64,
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub netout: f64,
    /// Disk bytes per second read and written (guests).
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub diskread: f64,
    #[serde(default, deserialize_with = "de::f64_lenient")]
    pub diskwrite: f64,
}

impl Client {
    /// A node's points over `frame`, averages or (`max`) maxima.
    pub async fn node_rrd(
        &self,
        node: &str,
        frame: Timeframe,
        max: bool,
    ) -> Result<Vec<RrdPoint>, Error> {
        if !valid_node(node) {
            return Err(Error::Invalid(format!("{node:?} is not a node name")));
        }
        let params = [
            ("timeframe", frame.name().to_owned()),
            ("cf", if max { "MAX" } else { "AVERAGE" }.to_owned()),
        ];
        self.get(&format!("/nodes/{node}/rrddata"), &params).await
    }

    /// A guest's points over `frame`, from the node that owns it now.
    pub async fn guest_rrd(
        &self,
        vmid: u32,
        frame: Timeframe,
        max: bool,
    ) -> Result<Vec<RrdPoint>, Error> {
        let at = self.locate(vmid).await?;
        let params = [
            ("timeframe", frame.name().to_owned()),
            ("cf", if max { "MAX" } else { "AVERAGE" }.to_owned()),
        ];
        self.get(
            &format!("/nodes/{}/{}/{vmid}/rrddata", at.node, at.kind.segment()),
            &params,
        )
        .await
    }
}
