// Maps that work offline: the municipality outlines (served by the server) as the basemap, a scale,
// distance rings; map tiles only when the deployment configures a tile server.
/* global L */

let basemapData = null;

export async function makeMap(element, { center = [37.56, 126.98], zoom = 11, config = null } = {}) {
  const map = L.map(element, { preferCanvas: true, zoomControl: true, attributionControl: true, maxZoom: 19 }); // maxZoom: markercluster needs one even without tiles
  map.setView(center, zoom);
  if (config && config.tile_url) {
    L.tileLayer(config.tile_url, { maxZoom: 19 }).addTo(map);
  }
  if (!basemapData) {
    const response = await fetch("/v1/web/basemap");
    basemapData = await response.json();
  }
  L.geoJSON(basemapData, {
    style: { color: "#8a94a6", weight: 1, fillColor: "#eef1f5", fillOpacity: config && config.tile_url ? 0 : 1 },
    interactive: false,
  }).addTo(map);
  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.attributionControl.setPrefix("Leaflet · 2012 municipal boundaries");
  return map;
}

// The municipalities of the basemap ({code, name, name_eng}), once a map has loaded it: the control
// centre's area filter offers them by name and sends the code.
export function municipalities() {
  return basemapData ? basemapData.features.map((f) => f.properties) : [];
}

// Rings at `radii` metres around a point, each labelled with its distance.
export function rings(map, lat, lon, radii, options = {}) {
  const group = L.layerGroup();
  for (const r of radii) {
    L.circle([lat, lon], { radius: r, color: options.color || "#3a6ea5", weight: 1, fill: false, dashArray: "4 4", interactive: false }).addTo(group);
    const labelAt = L.latLng(lat + r / 111195, lon);
    L.marker(labelAt, { interactive: false, icon: L.divIcon({ className: "ring-label", html: r >= 1000 ? `${r / 1000} km` : `${r} m` }) }).addTo(group);
  }
  return group.addTo(map);
}

// Distance (m) and initial bearing (deg) between two points, for the field terminal and the victim app.
export function distanceBearing(lat1, lon1, lat2, lon2) {
  const R = 6371008.8, rad = Math.PI / 180;
  const p1 = lat1 * rad, p2 = lat2 * rad, dl = (lon2 - lon1) * rad;
  const a = Math.sin((p2 - p1) / 2) ** 2 + Math.cos(p1) * Math.cos(p2) * Math.sin(dl / 2) ** 2;
  const distance = 2 * R * Math.atan2(Math.sqrt(a), Math.sqrt(1 - a));
  const y = Math.sin(dl) * Math.cos(p2);
  const x = Math.cos(p1) * Math.sin(p2) - Math.sin(p1) * Math.cos(p2) * Math.cos(dl);
  const bearing = (Math.atan2(y, x) / rad + 360) % 360;
  return { distance, bearing };
}

const POINTS = ["N", "NE", "E", "SE", "S", "SW", "W", "NW"];
export function compass(bearing) {
  return POINTS[Math.round(bearing / 45) % 8];
}
