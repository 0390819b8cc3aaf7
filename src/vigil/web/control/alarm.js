// The control centre's alarm: a sound per severity, drawn with the Web Audio API (no files, no
// network), repeating while an alert of that severity waits for someone to acknowledge it.
//   critical (SOS, tamper, a proximity violation): a fast urgent pattern, every 1.5 s;
//   high (a zone violation, power off, a lost location, a failed push): a slower two-tone call,
//     every 5 s;
//   medium (a proximity warning, a lost signal): one soft chime when it is raised, never repeated;
//   low (a low battery): silent.
// Only the gravest waiting severity sounds at a time. A mute silences it for a chosen 1, 5 or 15
// minutes and then ends by itself; a critical alert raised while muted ends the mute at once (a mute
// must never hide a new SOS or tamper). Browsers keep audio off until the page has had a gesture:
// until then the header asks for a click. For the tests the module shows its state (`state()`, and
// window.vigilAlarm) and can move its own clock forward (`advance`), so nobody waits minutes.
import { t } from "/web/common/i18n.js";
import { esc } from "./util.js";

export const MUTE_MINUTES = [1, 5, 15];
const REPEAT_MS = { critical: 1500, high: 5000 }; // the severities that repeat, and how often
const GRAVITY = ["critical", "high", "medium"]; // the severities with a sound, gravest first
const TICK_MS = 250;

// The severities that have an unacknowledged ("open") alert and repeat until it is acknowledged.
export function waiting(alerts) {
  const found = new Set();
  for (const a of alerts) if (a.state === "open" && a.severity in REPEAT_MS) found.add(a.severity);
  return GRAVITY.filter((s) => found.has(s));
}

export class Alarm {
  // box: the header's element for the prompt, the mute and its state; repeat: whether this user can
  // acknowledge (and so stop) the alarm: one who cannot hears each raise once, never a repeat.
  constructor(box, { repeat = true } = {}) {
    this.box = box;
    this.repeat = repeat;
    this.pending = []; // severities waiting for an acknowledgement, gravest first
    this.mutedUntil = null; // ms, on this module's clock
    this.skew = 0; // ms added to Date.now(): the tests' way to let minutes pass
    this.next = {}; // severity -> when it sounds again (ms)
    this.plays = { critical: 0, high: 0, medium: 0 };
    this.lastMuteEnd = null; // why the last mute ended: "timeout", "critical" or "user"
    this.ctx = null;
    try {
      this.ctx = new AudioContext();
      this.ctx.addEventListener("statechange", () => this.render());
    } catch {
      this.ctx = null; // no Web Audio here: nothing to unlock; the title still flashes
    }
    const unlock = () => this.unlock();
    document.addEventListener("pointerdown", unlock, true);
    document.addEventListener("keydown", unlock, true);
    this.build();
    window.vigilAlarm = this;
  }

  now() {
    return Date.now() + this.skew;
  }

  unlocked() {
    return Boolean(this.ctx) && this.ctx.state === "running";
  }

  unlock() {
    if (this.ctx && this.ctx.state === "suspended") this.ctx.resume().then(() => this.render(), () => {});
  }

  build() {
    this.box.innerHTML = `<button type="button" class="sound-enable" data-testid="sound-enable" hidden></button>
      <span class="alarm-state" data-testid="alarm-state"></span>
      <button type="button" class="mute" data-testid="mute" aria-expanded="false"></button>
      <span class="mute-choices" data-testid="mute-choices" hidden>${MUTE_MINUTES.map((n) =>
        `<button type="button" data-testid="mute-${n}" data-minutes="${n}"></button>`).join("")}</span>
      <button type="button" class="unmute" data-testid="unmute" hidden></button>`;
    this.enableEl = this.box.querySelector("[data-testid=sound-enable]");
    this.stateEl = this.box.querySelector("[data-testid=alarm-state]");
    this.muteEl = this.box.querySelector("[data-testid=mute]");
    this.choicesEl = this.box.querySelector("[data-testid=mute-choices]");
    this.unmuteEl = this.box.querySelector("[data-testid=unmute]");
    this.enableEl.addEventListener("click", () => this.unlock());
    this.muteEl.addEventListener("click", () => {
      this.choicesEl.hidden = !this.choicesEl.hidden;
      this.muteEl.setAttribute("aria-expanded", String(!this.choicesEl.hidden));
    });
    for (const b of this.choicesEl.querySelectorAll("button")) {
      b.addEventListener("click", () => this.mute(Number(b.dataset.minutes) * 60_000));
    }
    this.unmuteEl.addEventListener("click", () => this.unmute("user"));
  }

  start() {
    this.box.hidden = false;
    if (!this.timer) this.timer = setInterval(() => this.tick(), TICK_MS);
    this.render();
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    this.pending = [];
    this.box.hidden = true;
    this.render();
  }

  // The open alerts as they stand now: which severities wait, and so which sound repeats.
  sync(alerts) {
    // a severity newly waiting sounds at once, unless its raise has just sounded it
    this.pending = this.repeat ? waiting(alerts) : [];
    this.tick();
  }

  // An alert just opened or escalated: its sound at once (a chime for a warning, only then); a
  // critical one ends a mute.
  raised(alert) {
    const severity = alert.severity;
    if (!GRAVITY.includes(severity)) return;
    if (severity === "critical" && this.muted()) this.unmute("critical");
    if (this.muted()) return;
    this.play(severity);
    if (severity in REPEAT_MS) this.next[severity] = this.now() + REPEAT_MS[severity];
  }

  mute(ms) {
    this.mutedUntil = this.now() + ms;
    this.choicesEl.hidden = true;
    this.muteEl.setAttribute("aria-expanded", "false");
    this.render();
  }

  unmute(why) {
    if (this.mutedUntil === null) return;
    this.mutedUntil = null;
    this.lastMuteEnd = why;
    for (const s of this.pending) this.next[s] = 0; // still waiting: it sounds again at once
    this.render();
  }

  muted() {
    return this.mutedUntil !== null && this.now() < this.mutedUntil;
  }

  // Let `ms` pass on this module's clock (the tests' shortcut through a mute's minutes).
  advance(ms) {
    this.skew += ms;
    this.tick();
  }

  tick() {
    if (this.mutedUntil !== null && !this.muted()) this.unmute("timeout");
    const gravest = this.pending[0];
    if (gravest && !this.muted() && this.now() >= (this.next[gravest] || 0)) {
      this.play(gravest);
      this.next[gravest] = this.now() + REPEAT_MS[gravest];
    }
    this.render();
  }

  // What the tests read instead of listening.
  state() {
    return {
      pending: [...this.pending],
      ringing: this.muted() ? [] : [...this.pending],
      mutedUntil: this.muted() ? this.mutedUntil : null,
      mutedLeftS: this.muted() ? Math.ceil((this.mutedUntil - this.now()) / 1000) : 0,
      lastMuteEnd: this.lastMuteEnd,
      plays: { ...this.plays },
      unlocked: this.unlocked(),
    };
  }

  render() {
    const muted = this.muted();
    const ringing = muted ? null : this.pending[0] || null;
    document.body.dataset.alarm = ringing || "";
    this.enableEl.hidden = !this.ctx || this.unlocked() || this.box.hidden;
    this.enableEl.textContent = `🔈 ${t("alarm.enable")}`;
    this.muteEl.textContent = `🔇 ${t("alarm.mute")}`;
    this.muteEl.hidden = muted;
    if (muted) this.choicesEl.hidden = true;
    for (const b of this.choicesEl.querySelectorAll("button")) b.textContent = t("alarm.minutes", { n: b.dataset.minutes });
    this.unmuteEl.hidden = !muted;
    this.unmuteEl.textContent = t("alarm.unmute");
    this.box.dataset.muted = String(muted);
    this.box.dataset.sound = this.unlocked() ? "on" : "off";
    this.box.dataset.ringing = ringing || "";
    let text = "";
    if (muted) {
      const left = Math.ceil((this.mutedUntil - this.now()) / 1000);
      const clock = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, "0")}`;
      text = t("alarm.muted", { t: clock });
    } else if (ringing) text = t(`alarm.ringing.${ringing}`);
    if (this.stateEl.textContent !== text) this.stateEl.innerHTML = esc(text);
  }

  // --- the sounds ----------------------------------------------------------------------------------

  play(severity) {
    this.plays[severity] += 1;
    document.body.dataset.beeps = String(Number(document.body.dataset.beeps || 0) + 1);
    if (!this.unlocked()) return; // counted (the page says sound is off), but the browser is silent
    const at = this.ctx.currentTime + 0.01;
    if (severity === "critical") {
      // six short hard beeps, alternating high and higher: hard to ignore, impossible to mistake
      for (let i = 0; i < 6; i++) this.tone(i % 2 ? 1400 : 1050, at + i * 0.12, 0.09, 0.22, "square");
    } else if (severity === "high") {
      // a falling two-tone call, twice
      for (let i = 0; i < 2; i++) {
        this.tone(880, at + i * 0.8, 0.3, 0.2, "triangle");
        this.tone(660, at + i * 0.8 + 0.34, 0.3, 0.2, "triangle");
      }
    } else {
      // a soft bell: a sine with its fifth, fading over a second
      this.tone(660, at, 1.2, 0.12, "sine");
      this.tone(990, at, 0.8, 0.05, "sine");
    }
  }

  tone(frequency, at, length, peak, type) {
    const osc = this.ctx.createOscillator();
    const gain = this.ctx.createGain();
    osc.type = type;
    osc.frequency.value = frequency;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(peak, at + 0.015);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + length);
    osc.connect(gain).connect(this.ctx.destination);
    osc.start(at);
    osc.stop(at + length + 0.02);
  }
}
