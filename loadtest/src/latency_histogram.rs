//! HDR latency histograms in microseconds, in the base64 V2 form workers send their parent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hdrhistogram::Histogram;
use hdrhistogram::serialization::{Deserializer, Serializer, V2Serializer};
use serde::{Deserialize, Serialize};

use crate::LoadtestError;

/// Longest latency kept exactly; anything slower saturates here (an hour, in µs).
const MAX_US: u64 = 3_600_000_000;

/// Latencies in microseconds at three significant digits.
#[derive(Clone, Debug)]
pub struct LatencyHistogram(Histogram<u64>);

/// The figures a report shows for one histogram, in microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencySummary {
    pub count: u64,
    pub mean_us: f64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self(Histogram::new_with_bounds(1, MAX_US, 3).expect("static bounds are valid"))
    }
}

impl LatencyHistogram {
    /// Record one latency; clock skew can make it negative, which counts as the 1 µs floor.
    pub fn record(&mut self, micros: i64) {
        self.0
            .saturating_record(micros.clamp(1, MAX_US as i64) as u64);
    }

    /// How many latencies were recorded.
    pub fn len(&self) -> u64 {
        self.0.len()
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Add every recording of `other`.
    pub fn merge(&mut self, other: &LatencyHistogram) -> Result<(), LoadtestError> {
        self.0
            .add(&other.0)
            .map_err(|e| LoadtestError::Histogram(format!("{e:?}")))
    }

    /// Empty this histogram, returning what it held (for per-interval reports).
    pub fn take(&mut self) -> LatencyHistogram {
        let taken = self.clone();
        self.0.reset();
        taken
    }

    /// Percentiles of what was recorded.
    pub fn summary(&self) -> LatencySummary {
        let h = &self.0;
        if h.is_empty() {
            return LatencySummary::default();
        }
        LatencySummary {
            count: h.len(),
            mean_us: h.mean(),
            p50_us: h.value_at_quantile(0.5),
            p90_us: h.value_at_quantile(0.9),
            p99_us: h.value_at_quantile(0.99),
            p999_us: h.value_at_quantile(0.999),
            max_us: h.max(),
        }
    }

    /// The V2 serialization, base64 encoded.
    pub fn to_base64(&self) -> Result<String, LoadtestError> {
        let mut bytes = Vec::new();
        V2Serializer::new()
            .serialize(&self.0, &mut bytes)
            .map_err(|e| LoadtestError::Histogram(format!("{e:?}")))?;
        Ok(STANDARD.encode(bytes))
    }

    /// Parse what [`LatencyHistogram::to_base64`] wrote.
    pub fn from_base64(text: &str) -> Result<Self, LoadtestError> {
        let bytes = STANDARD
            .decode(text)
            .map_err(|e| LoadtestError::Histogram(e.to_string()))?;
        let decoded: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| LoadtestError::Histogram(format!("{e:?}")))?;
        let mut histogram = Self::default();
        histogram
            .0
            .add(&decoded)
            .map_err(|e| LoadtestError::Histogram(format!("{e:?}")))?;
        Ok(histogram)
    }
}

impl Serialize for LatencyHistogram {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_base64().map_err(serde::ser::Error::custom)?)
    }
}

impl<'de> Deserialize<'de> for LatencyHistogram {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::from_base64(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merged_equals_recorded_together() {
        let mut a = LatencyHistogram::default();
        let mut b = LatencyHistogram::default();
        let mut both = LatencyHistogram::default();
        for v in 1..=1000 {
            a.record(v);
            both.record(v);
        }
        for v in [5_000, 20_000, 1_000_000] {
            b.record(v);
            both.record(v);
        }
        let mut merged = a.clone();
        merged.merge(&b).expect("same bounds");
        assert_eq!(merged.summary(), both.summary());
        assert_eq!(merged.len(), 1003);
        assert!(merged.summary().max_us >= 999_000);
        assert_eq!(merged.summary().p50_us, both.summary().p50_us);
    }

    #[test]
    fn survives_the_wire_form() {
        let mut h = LatencyHistogram::default();
        for v in [-3, 0, 7, 7, 350, 12_345, i64::MAX] {
            h.record(v);
        }
        let json = serde_json::to_string(&h).expect("serializes");
        let back: LatencyHistogram = serde_json::from_str(&json).expect("parses");
        assert_eq!(back.summary(), h.summary());
        assert_eq!(back.len(), 7);
        assert!(LatencyHistogram::from_base64("not base64!").is_err());
    }

    #[test]
    fn take_empties() {
        let mut h = LatencyHistogram::default();
        h.record(10);
        let taken = h.take();
        assert_eq!((taken.len(), h.len()), (1, 0));
        assert_eq!(
            LatencyHistogram::default().summary(),
            LatencySummary::default()
        );
    }
}
