// Maps that work offline, with streets where the deployment has them.
//
// Base layers (one at a time, from the layer switcher): the municipality outlines (served by the
// server, always there) and, when configured, streets: an XYZ tile server (`tile_url`) or Vigil's
// own PMTiles archive (`pmtiles`: vector tiles drawn by protomaps-leaflet, raster tiles through
// pmtiles' leafletRasterLayer; the readers are loaded only then). Overlays: jurisdiction outlines,
// place names (the municipalities' names, placed without overlap), and whatever the app adds
// (zones) with addOverlay(). A scale, distance rings, and the municipality a point lies in.
/* global L, pmtiles, protomapsL */

import { addStrings, language, t } from "/web/common/i18n.js";

addStrings("ko", {
  "map.outline": "행정구역 지도 (오프라인)",
  "map.streets": "도로 지도",
  "map.jurisdictions": "관할 경계",
  "map.places": "지명",
  "map.zones": "구역",
});
addStrings("en", {
  "map.outline": "Outline map (offline)",
  "map.streets": "Street map",
  "map.jurisdictions": "Jurisdiction boundaries",
  "map.places": "Place names",
  "map.zones": "Zones",
});

let basemapData = null;
const loaded = new Map(); // script URL -> Promise

function loadScript(src) {
  if (!loaded.has(src)) {
    loaded.set(
      src,
      new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src;
        script.onload = resolve;
        script.onerror = () => reject(new Error(`cannot load ${src}`));
        document.head.appendChild(script);
      }),
    );
  }
  return loaded.get(src);
}

export async function basemap() {
  if (!basemapData) {
    const response = await fetch("/v1/web/basemap");
    basemapData = await response.json();
  }
  return basemapData;
}

// The street layer the deployment configured, or null; credited as configured (`tile_attribution`).
async function streets(config) {
  // Leaflet shows attributions as HTML: the configured credit is shown as text
  const text = config && config.tile_attribution ? config.tile_attribution.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`) : "";
  const credit = text ? { attribution: text } : {};
  if (config && config.pmtiles) {
    const archive = config.pmtiles;
    if (archive.vector) {
      await loadScript("/web/vendor/protomaps-leaflet/protomaps-leaflet.js");
      return protomapsL.leafletLayer({ url: archive.url, flavor: "light", lang: language(), maxDataZoom: archive.max_zoom, ...credit });
    }
    await loadScript("/web/vendor/pmtiles/pmtiles.js");
    return pmtiles.leafletRasterLayer(new pmtiles.PMTiles(archive.url), { maxNativeZoom: archive.max_zoom, maxZoom: 19, className: "street-tiles", ...credit });
  }
  if (config && config.tile_url) return L.tileLayer(config.tile_url, { maxZoom: 19, className: "street-tiles", ...credit });
  return null;
}

export async function makeMap(element, { center = [37.56, 126.98], zoom = 11, config = null } = {}) {
  const map = L.map(element, { preferCanvas: true, zoomControl: true, attributionControl: true, maxZoom: 19 }); // maxZoom: markercluster needs one even without tiles
  map.setView(center, zoom);
  // Under the overlays: the outline base in its own pane (at the tiles' level), boundaries above it.
  map.createPane("vigilBase").style.zIndex = 250;
  map.createPane("vigilBoundaries").style.zIndex = 380;
  const labelPane = map.createPane("vigilLabels");
  labelPane.style.zIndex = 450;
  labelPane.style.pointerEvents = "none";

  const data = await basemap();
  const street = await streets(config).catch(() => null); // no street map: the outlines still work
  const outline = L.geoJSON(data, {
    pane: "vigilBase",
    style: { color: "#8a94a6", weight: 1, fillColor: "#eef1f5", fillOpacity: 1 },
    interactive: false,
  });
  const jurisdictions = L.geoJSON(data, {
    pane: "vigilBoundaries",
    style: { color: "#5b6675", weight: 1.5, opacity: 0.8, fill: false, dashArray: "6 3" },
    interactive: false,
  });
  const places = new PlaceLabels(data);

  (street || outline).addTo(map);
  if (street) jurisdictions.addTo(map); // on streets, where one jurisdiction ends is not drawn otherwise
  places.addTo(map);

  map.vigil = { bases: [["map.outline", outline]], overlays: [["map.jurisdictions", jurisdictions], ["map.places", places]], control: null };
  if (street) map.vigil.bases.unshift(["map.streets", street]);
  switcher(map);
  window.addEventListener("languagechange", () => {
    switcher(map);
    places.refresh();
  });

  L.control.scale({ metric: true, imperial: false }).addTo(map);
  map.attributionControl.setPrefix("Leaflet · 2012 municipal boundaries");
  return map;
}

// The municipalities of the basemap ({code, name, name_eng}), once a map has loaded it: the control
// centre's area filter offers them by name and sends the code.
export function municipalities() {
  return basemapData ? basemapData.features.map((f) => f.properties) : [];
}

// The layer switcher, rebuilt when the language changes (its labels are plain text).
function switcher(map) {
  if (map.vigil.control) map.vigil.control.remove();
  const bases = Object.fromEntries(map.vigil.bases.map(([key, layer]) => [t(key), layer]));
  const overlays = Object.fromEntries(map.vigil.overlays.map(([key, layer]) => [t(key), layer]));
  map.vigil.control = L.control.layers(bases, overlays, { collapsed: true, position: "topright" }).addTo(map);
  map.vigil.control.getContainer().dataset.testid = "layers";
}

// An overlay of the app's own (zones) in the layer switcher, under the string `key`.
export function addOverlay(map, key, layer) {
  if (!map.vigil) return;
  map.vigil.overlays.push([key, layer]);
  switcher(map);
}

// ---- place names without overlap ---------------------------------------------------------------
//
// One label per municipality at a point inside it. At each zoom the labels are placed in order of
// priority (larger municipalities first) and one whose box would touch a placed one's is left out:
// zoomed out, Seoul shows a few district names; zoomed in, all of them.

const LABEL_GAP = 4; // px kept clear around each label

function ringArea(ring) {
  let sum = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) sum += (ring[j][0] + ring[i][0]) * (ring[j][1] - ring[i][1]);
  return Math.abs(sum / 2);
}

function inRing(lon, lat, ring) {
  let inside = false;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat && lon < ((xj - xi) * (lat - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

function inPolygon(lon, lat, polygon) {
  return inRing(lon, lat, polygon[0]) && !polygon.slice(1).some((hole) => inRing(lon, lat, hole));
}

function polygonsOf(geometry) {
  return geometry.type === "Polygon" ? [geometry.coordinates] : geometry.coordinates;
}

// A point inside the polygon: its centroid if that lies inside, else the middle of the widest
// horizontal run through it (a concave outline's centroid can fall outside).
function anchorOf(polygon) {
  const ring = polygon[0];
  let a = 0, cx = 0, cy = 0;
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const f = ring[j][0] * ring[i][1] - ring[i][0] * ring[j][1];
    a += f;
    cx += (ring[j][0] + ring[i][0]) * f;
    cy += (ring[j][1] + ring[i][1]) * f;
  }
  if (a !== 0) {
    const c = [cx / (3 * a), cy / (3 * a)];
    if (inPolygon(c[0], c[1], polygon)) return c;
  }
  const lats = ring.map((p) => p[1]);
  const lat = (Math.min(...lats) + Math.max(...lats)) / 2;
  const xs = [];
  for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
    const [xi, yi] = ring[i];
    const [xj, yj] = ring[j];
    if (yi > lat !== yj > lat) xs.push(xi + ((lat - yi) * (xj - xi)) / (yj - yi));
  }
  xs.sort((p, q) => p - q);
  let best = [ring[0][0], ring[0][1]], width = -1;
  for (let i = 0; i + 1 < xs.length; i += 2) {
    if (xs[i + 1] - xs[i] > width) {
      width = xs[i + 1] - xs[i];
      best = [(xs[i] + xs[i + 1]) / 2, lat];
    }
  }
  return best;
}

export const PlaceLabels = L.Layer.extend({
  initialize(geojson) {
    this.places = geojson.features
      .map((f) => {
        const polygons = polygonsOf(f.geometry);
        const largest = polygons.reduce((p, q) => (ringArea(q[0]) > ringArea(p[0]) ? q : p));
        const [lon, lat] = anchorOf(largest);
        const area = polygons.reduce((sum, p) => sum + ringArea(p[0]), 0);
        return { code: f.properties.code, ko: f.properties.name, en: f.properties.name_eng, at: L.latLng(lat, lon), area, el: null, size: null };
      })
      .sort((p, q) => q.area - p.area);
  },

  onAdd(map) {
    this.container = L.DomUtil.create("div", "place-labels", map.getPane("vigilLabels"));
    this.container.dataset.testid = "place-labels";
    map.on("zoomend moveend viewreset resize", this.update, this);
    map.on("zoomstart", this.hide, this);
    this.update();
  },

  onRemove(map) {
    map.off("zoomend moveend viewreset resize", this.update, this);
    map.off("zoomstart", this.hide, this);
    this.container.remove();
    for (const p of this.places) p.el = null;
  },

  hide() {
    if (this.container) this.container.style.visibility = "hidden";
  },

  // The language changed: new words, new sizes.
  refresh() {
    for (const p of this.places) {
      if (p.el) p.el.remove();
      p.el = null;
      p.size = null;
    }
    if (this._map) this.update();
  },

  update() {
    const map = this._map;
    if (!map) return;
    const view = map.getPixelBounds();
    const origin = map.getPixelOrigin();
    const english = language() === "en";
    const placed = [];
    for (const p of this.places) {
      const point = map.project(p.at, map.getZoom()).subtract(origin); // layer point
      const screen = point.add(origin);
      let show = view.contains(screen);
      if (show && !p.el) {
        p.el = L.DomUtil.create("div", "place-label", this.container);
        p.el.textContent = english ? p.en : p.ko;
        p.el.dataset.code = p.code;
      }
      if (show && !p.size && p.el.offsetWidth > 0) p.size = { w: p.el.offsetWidth, h: p.el.offsetHeight };
      show = show && p.size !== null; // not measurable yet (the map is not on screen): placed later
      let box = null;
      if (show) {
        const x = point.x - p.size.w / 2, y = point.y - p.size.h / 2;
        box = { x1: x - LABEL_GAP, y1: y - LABEL_GAP, x2: x + p.size.w + LABEL_GAP, y2: y + p.size.h + LABEL_GAP };
        show = !placed.some((b) => b.x1 < box.x2 && box.x1 < b.x2 && b.y1 < box.y2 && box.y1 < b.y2);
        if (show) {
          placed.push(box);
          L.DomUtil.setPosition(p.el, L.point(Math.round(x), Math.round(y)));
        }
      }
      if (p.el) p.el.hidden = !show;
    }
    this.container.style.visibility = "";
  },
});

// The municipality a point lies in (offline, from the outlines): {code, ko, en}, or null.
export async function municipalityAt(lat, lon) {
  const data = await basemap();
  for (const f of data.features) {
    if (polygonsOf(f.geometry).some((polygon) => inPolygon(lon, lat, polygon))) {
      return { code: f.properties.code, ko: f.properties.name, en: f.properties.name_eng };
    }
  }
  return null;
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
