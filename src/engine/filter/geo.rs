//! Geographic helpers for geo filters and the geo payload index.
//!
//! Points are `{"lon": x, "lat": y}` in degrees. Distances are haversine
//! distances on a sphere with the mean Earth radius (the value the `geo`
//! crate, and so Qdrant, uses).

use crate::engine::filter::FilterError;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Mean Earth radius in meters (IUGG), as used by Qdrant via the `geo` crate.
pub const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// A geo point as it appears in payloads and filters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeoPoint {
    pub lon: f64,
    pub lat: f64,
}

impl GeoPoint {
    pub fn new(lon: f64, lat: f64) -> Self {
        GeoPoint { lon, lat }
    }

    /// Error text if the coordinates are out of range.
    pub fn check_range(&self) -> Result<(), FilterError> {
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            return Err(FilterError::from(format!(
                "latitude {} is out of range [-90, 90]",
                self.lat
            )));
        }
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            return Err(FilterError::from(format!(
                "longitude {} is out of range [-180, 180]",
                self.lon
            )));
        }
        Ok(())
    }

    /// Read a payload value as a geo point: an object with numeric `lon`
    /// and `lat` (other keys are ignored, as Qdrant does).
    pub fn from_value(value: &Value) -> Option<GeoPoint> {
        let obj = value.as_object()?;
        let lon = obj.get("lon")?.as_f64()?;
        let lat = obj.get("lat")?.as_f64()?;
        Some(GeoPoint { lon, lat })
    }
}

/// Haversine distance in meters.
pub fn haversine_m(a: &GeoPoint, b: &GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// Inclusive latitude/longitude rectangle. `lon_min > lon_max` means the
/// rectangle crosses the antimeridian.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatLonRect {
    pub lat_min: f64,
    pub lat_max: f64,
    pub lon_min: f64,
    pub lon_max: f64,
}

impl LatLonRect {
    pub const WORLD: LatLonRect = LatLonRect {
        lat_min: -90.0,
        lat_max: 90.0,
        lon_min: -180.0,
        lon_max: 180.0,
    };

    pub fn contains(&self, p: &GeoPoint) -> bool {
        if p.lat < self.lat_min || p.lat > self.lat_max {
            return false;
        }
        if self.lon_min <= self.lon_max {
            p.lon >= self.lon_min && p.lon <= self.lon_max
        } else {
            p.lon >= self.lon_min || p.lon <= self.lon_max
        }
    }

    /// Whether the closed rectangle `[lat0, lat1] x [lon0, lon1]` (no wrap)
    /// overlaps this one.
    pub fn overlaps(&self, lat0: f64, lat1: f64, lon0: f64, lon1: f64) -> bool {
        if lat1 < self.lat_min || lat0 > self.lat_max {
            return false;
        }
        let overlaps_lon = |a: f64, b: f64| lon1 >= a && lon0 <= b;
        if self.lon_min <= self.lon_max {
            overlaps_lon(self.lon_min, self.lon_max)
        } else {
            overlaps_lon(self.lon_min, 180.0) || overlaps_lon(-180.0, self.lon_max)
        }
    }
}

/// A rectangle that contains every point within `radius_m` of `center`
/// (a little larger, to be safe against rounding).
pub fn radius_bounds(center: &GeoPoint, radius_m: f64) -> LatLonRect {
    let angular = radius_m / EARTH_RADIUS_M;
    if !angular.is_finite() || angular >= std::f64::consts::PI {
        return LatLonRect::WORLD;
    }
    let margin = 1e-6;
    let dlat = angular.to_degrees() * (1.0 + 1e-9) + margin;
    let lat_min = center.lat - dlat;
    let lat_max = center.lat + dlat;
    if lat_min <= -90.0 || lat_max >= 90.0 {
        return LatLonRect {
            lat_min: lat_min.max(-90.0),
            lat_max: lat_max.min(90.0),
            lon_min: -180.0,
            lon_max: 180.0,
        };
    }
    let s = angular.sin() / center.lat.to_radians().cos();
    if s >= 1.0 {
        return LatLonRect {
            lat_min,
            lat_max,
            lon_min: -180.0,
            lon_max: 180.0,
        };
    }
    let dlon = s.asin().to_degrees() * (1.0 + 1e-9) + margin;
    if dlon >= 180.0 {
        return LatLonRect {
            lat_min,
            lat_max,
            lon_min: -180.0,
            lon_max: 180.0,
        };
    }
    let mut lon_min = center.lon - dlon;
    let mut lon_max = center.lon + dlon;
    if lon_min < -180.0 {
        lon_min += 360.0;
    }
    if lon_max > 180.0 {
        lon_max -= 360.0;
    }
    LatLonRect {
        lat_min,
        lat_max,
        lon_min,
        lon_max,
    }
}

/// Bounding rectangle of a ring (no antimeridian handling: polygons are
/// taken literally in lon/lat space, as Qdrant does).
pub fn ring_bounds(ring: &[GeoPoint]) -> LatLonRect {
    let mut r = LatLonRect {
        lat_min: f64::INFINITY,
        lat_max: f64::NEG_INFINITY,
        lon_min: f64::INFINITY,
        lon_max: f64::NEG_INFINITY,
    };
    for p in ring {
        r.lat_min = r.lat_min.min(p.lat);
        r.lat_max = r.lat_max.max(p.lat);
        r.lon_min = r.lon_min.min(p.lon);
        r.lon_max = r.lon_max.max(p.lon);
    }
    r
}

/// Whether `p` is strictly inside the closed ring (even-odd rule, planar in
/// lon/lat). Points exactly on an edge count as outside.
pub fn ring_contains(ring: &[GeoPoint], p: &GeoPoint) -> bool {
    if ring.len() < 3 {
        return false;
    }
    if on_ring_boundary(ring, p) {
        return false;
    }
    let mut inside = false;
    let n = ring.len();
    let mut j = n - 1;
    for i in 0..n {
        let (a, b) = (&ring[i], &ring[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) {
            let x = a.lon + (p.lat - a.lat) * (b.lon - a.lon) / (b.lat - a.lat);
            if p.lon < x {
                inside = !inside;
            }
        }
        j = i;
    }
    inside
}

fn on_ring_boundary(ring: &[GeoPoint], p: &GeoPoint) -> bool {
    ring.windows(2).any(|w| on_segment(&w[0], &w[1], p))
        || on_segment(&ring[ring.len() - 1], &ring[0], p)
}

fn on_segment(a: &GeoPoint, b: &GeoPoint, p: &GeoPoint) -> bool {
    let cross = (b.lon - a.lon) * (p.lat - a.lat) - (b.lat - a.lat) * (p.lon - a.lon);
    if cross.abs() > 1e-12 {
        return false;
    }
    p.lon >= a.lon.min(b.lon)
        && p.lon <= a.lon.max(b.lon)
        && p.lat >= a.lat.min(b.lat)
        && p.lat <= a.lat.max(b.lat)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn haversine_berlin_moscow() {
        let berlin = GeoPoint::new(13.404954, 52.520008);
        let moscow = GeoPoint::new(37.617298, 55.755825);
        let d = haversine_m(&berlin, &moscow);
        assert!((d - 1_608_000.0).abs() < 5_000.0, "{d}");
        assert_eq!(haversine_m(&berlin, &berlin), 0.0);
    }

    #[test]
    fn radius_bounds_contain_circle() {
        let centers = [
            GeoPoint::new(0.0, 0.0),
            GeoPoint::new(179.9, 10.0),
            GeoPoint::new(-179.9, -60.0),
            GeoPoint::new(20.0, 89.0),
        ];
        for c in centers {
            for r in [10.0, 1000.0, 100_000.0, 2_000_000.0] {
                let b = radius_bounds(&c, r);
                for k in 0..360 {
                    let bearing = (k as f64).to_radians();
                    // Destination point at distance r * 0.999 along bearing.
                    let ang = r * 0.999 / EARTH_RADIUS_M;
                    let lat1 = c.lat.to_radians();
                    let lon1 = c.lon.to_radians();
                    let lat2 =
                        (lat1.sin() * ang.cos() + lat1.cos() * ang.sin() * bearing.cos()).asin();
                    let lon2 = lon1
                        + (bearing.sin() * ang.sin() * lat1.cos())
                            .atan2(ang.cos() - lat1.sin() * lat2.sin());
                    let mut lon = lon2.to_degrees();
                    if lon > 180.0 {
                        lon -= 360.0;
                    }
                    if lon < -180.0 {
                        lon += 360.0;
                    }
                    let p = GeoPoint::new(lon, lat2.to_degrees());
                    assert!(haversine_m(&c, &p) < r);
                    assert!(b.contains(&p), "{c:?} {r} {p:?} {b:?}");
                }
            }
        }
    }

    #[test]
    fn ring_contains_square() {
        let ring = [
            GeoPoint::new(0.0, 0.0),
            GeoPoint::new(10.0, 0.0),
            GeoPoint::new(10.0, 10.0),
            GeoPoint::new(0.0, 10.0),
            GeoPoint::new(0.0, 0.0),
        ];
        assert!(ring_contains(&ring, &GeoPoint::new(5.0, 5.0)));
        assert!(!ring_contains(&ring, &GeoPoint::new(15.0, 5.0)));
        assert!(!ring_contains(&ring, &GeoPoint::new(10.0, 5.0)));
        assert!(!ring_contains(&ring, &GeoPoint::new(-0.1, 5.0)));
    }

    #[test]
    fn rect_wraps_antimeridian() {
        let r = LatLonRect {
            lat_min: -10.0,
            lat_max: 10.0,
            lon_min: 170.0,
            lon_max: -170.0,
        };
        assert!(r.contains(&GeoPoint::new(175.0, 0.0)));
        assert!(r.contains(&GeoPoint::new(-175.0, 0.0)));
        assert!(!r.contains(&GeoPoint::new(0.0, 0.0)));
        assert!(r.overlaps(0.0, 1.0, 179.0, 180.0));
        assert!(!r.overlaps(0.0, 1.0, 0.0, 1.0));
    }
}
