// The 16 compass points: which one a bearing falls in, and their Korean names. Each app words the
// English its own way (abbreviations on the field terminal, words in the victim app).
const POINTS = ["N", "NNE", "NE", "ENE", "E", "ESE", "SE", "SSE", "S", "SSW", "SW", "WSW", "W", "WNW", "NW", "NNW"];

export const COMPASS_KO = {
  N: "북", NNE: "북북동", NE: "북동", ENE: "동북동", E: "동", ESE: "동남동", SE: "남동", SSE: "남남동",
  S: "남", SSW: "남남서", SW: "남서", WSW: "서남서", W: "서", WNW: "서북서", NW: "북서", NNW: "북북서",
};

// The point a bearing (degrees, any sign or size) is nearest to, as a string key ("NNE").
export function compass16(bearing) {
  return POINTS[Math.round((((bearing % 360) + 360) % 360) / 22.5) % 16];
}
