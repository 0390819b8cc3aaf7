"""The rules' knobs, with defaults drawn from the field figures in the domain notes."""

from __future__ import annotations

from dataclasses import dataclass, field

from vigil.domain.plausibility import Limits

# A partner's fix older than this is not trusted as current: the alert says so, and a push sends
# police to her home rather than to where she was. One figure for the rules and the outbox.
STALE_AFTER_S = 600.0


@dataclass(frozen=True, slots=True)
class Tuning:
    stale_after_s: float = STALE_AFTER_S
    # Hysteresis: a tier is left only beyond its distance plus this margin (the larger of the two).
    margin_min_m: float = 25.0
    margin_fraction: float = 0.1
    # Combined accuracy above this cannot place a person against a 100 m line: judge the reported
    # positions alone and say the result is coarse, rather than alert on every cell-tower fix.
    coarse_accuracy_m: float = 300.0
    # A fix claiming worse than this is a poor one whatever its source (a phone's fused position
    # names none): a still pair's new warning that rests on one waits for a second fix across
    # (rules/proximity.py `_seen_twice`), as one on a Wi-Fi fix does.
    poor_accuracy_m: float = 100.0
    # A pair's new tier on a poor fix of a party at rest is judged on where that party has been at
    # rest (its receiver's measured standstill within this window and its fixes since, combined by
    # accuracy; domain/track.py `Track.kept`), the estimate loosening at walking pace between fixes.
    rest_window_s: float = 600.0
    walk_mps: float = 1.5
    # A coarse fix (cell, or beyond coarse_accuracy_m) within this of a fine fix of the same person
    # that lies inside its accuracy disc adds nothing: proximity judges the fine one (a cell fix's
    # centre alone put neighbours 1.6 km apart "within 1 km" at every cell fix, night after night).
    # Half an hour: a coarse fix that places him elsewhere (his fine position outside its disc) is
    # still judged at once, and a device with no usable position for 10 minutes is location_loss.
    coarse_defers_s: float = 1800.0
    # Silence allowed for an ankle monitor with no limit of its own.
    default_silence_s: float = 300.0
    # ... but never less than this many reporting intervals (configured, or learned as the low
    # median of the last `cadence_keep` gaps between its messages, once `cadence_least` are known):
    # at 60 s the default rules, at 300 s the limit is 900 s, so a report lost or late is not an
    # outage while a 20-minute one still is.
    silence_intervals: float = 3.0
    # ... and before a device's interval is known (not configured, fewer than `cadence_least` gaps
    # learned), it is taken as this, the slowest that monitors report at normally ("every 1-5
    # minutes", DOMAIN), or as the shortest gap seen if shorter: a new 5-minute monitor's first
    # report is not an outage (its first silence is allowed 15 minutes; a 60 s one's, after its
    # first gap, the default).
    unknown_interval_s: float = 300.0
    cadence_keep: int = 9
    cadence_least: int = 2
    # A fix received this long after it was measured is late (a batch after a coverage gap).
    late_after_s: float = 120.0
    battery_low_pct: float = 15.0
    battery_ok_pct: float = 30.0
    # Curfew absence is raised on a fine fix only when the device measures him moving at least this
    # fast, or the fine fix before it, at most `confirm_within_s` earlier (five reporting intervals),
    # was absent too: a lone multipath jump, measured at a standstill, is not an absence.
    moving_mps: float = 1.0
    confirm_within_s: float = 300.0
    # ... and for a slower reporter, this many of its reporting intervals (the fix before is one
    # interval back; a few are allowed for fixes lost indoors).
    confirm_intervals: float = 5.0
    # A device that keeps reporting but gives no usable position (a fix within coarse_accuracy_m,
    # not a cell fix) for this long raises location_loss: ankle monitors by default (possible
    # jamming or shielding); other kinds only with a limit of their own, since a victim's phone
    # indoors with no fix is normal, not an attack, and her staleness is shown on proximity alerts.
    default_location_s: float = 600.0
    # A violation on the near edge of the accuracy discs alone (the reported positions outside) is
    # confirmed by a second such judgement (or a closer one) within this window; until then it is a
    # warning (rules/proximity.py `_brink`). Five minutes: five fixes at the usual interval.
    brink_window_s: float = 300.0
    # ... but a man at rest behind walls (his last usable positions agree he stays put, nothing since
    # places him elsewhere) is where he was last seen: indoors an ankle monitor gets a usable position
    # only now and then, and the longest such gap in a simulated night at home is well under an hour.
    # Two hours still catches a jammer or a shield kept on while he stays put.
    rest_location_s: float = 7_200.0
    # ... except for this long after an arrival within the warning distance of her or of her zones
    # (location.near_danger): a man who parks at her door, gives a few still fixes and wraps his
    # monitor is not a man at rest at home.
    arrival_s: float = 1_800.0
    # Never fewer than this many reporting intervals: a 300 s reporter gives two reports in 10 min.
    location_intervals: float = 4.0
    # A pair that leaves every tier keeps its alert active this long (a pending clear): falling
    # back in within it re-activates nothing and says nothing new. 15 min spans an indoor GNSS lapse
    # or a spell of Wi-Fi jitter at a boundary (minutes), and is short against the hour of a real
    # new approach, which then opens a new alert. 0: clear at once.
    tier_hold_s: float = 900.0
    # Each return within the hold doubles it for the rest of that alert, up to this (flap damping):
    # neighbours whose near edge crosses the line all night keep one alert, while one approach and
    # retreat still clears after the base hold. Two hours: the longest lull measured between returns
    # of such a pair in the simulated nights was under an hour.
    tier_hold_max_s: float = 7200.0
    # Closing speeds below this are GPS jitter, not an approach: no time to contact.
    min_closing_mps: float = 0.3
    # A device's own time is not believed (rules/device_clock.py) when it is this far ahead of the
    # server, or this far behind the device's own last message: clocks drift by seconds a day, so
    # five minutes is a fault; a day behind is no late batch but a reset or GPS week rollover.
    clock_future_s: float = 300.0
    clock_behind_s: float = 86_400.0
    # ... or when it is steadily behind: a device that reports alone, each report more than
    # `clock_lag_s` behind its receipt and by the same lag as its last one (within `clock_steady_s`,
    # the receipts at least `clock_steady_gap_s` apart), has a clock running slow, not a backlog
    # (an upload's fixes come together, or in quick succession with a lag shrinking by the interval).
    clock_lag_s: float = 600.0
    clock_steady_s: float = 5.0
    clock_steady_gap_s: float = 5.0
    # What a position must satisfy to be believed (domain/plausibility.py), for the reports that are
    # judged (today the victim app's own; time moves forward there: the server stamps it).
    plausibility: Limits = field(default_factory=lambda: Limits(allow_earlier=False))
    # This many implausible positions from one person within the window raise position_doubt: the
    # account (or device) may be in someone else's hands. One is a glitch; three is a pattern.
    doubt_alert_count: int = 3
    doubt_alert_window_s: float = 600.0
    # An alert joins an open incident of the same danger while one of its alerts holds and for this
    # long after the last one cleared (domain/incidents.py): the same man back an hour later is the
    # same danger, the next evening is a new one.
    incident_window_s: float = 7_200.0
    # A fix measured longer ago than this is stored but judged by no rule (a device's day-old memory
    # dump proves nothing actionable); within it, a late fix is judged against where the other party
    # really was at its time, from memory or, older than memory holds, from the store.
    late_horizon_s: float = 86_400.0
    # What memory holds per device (domain/track.py): the last `keep_s` seconds, at most `keep_n`
    # fixes (100,000 people must fit in about 1 GB, 10,000 device connections in 300 MB); older
    # positions are read back from the store. 16 covers the window at the usual one fix a minute;
    # a device in pursuit mode (15 s) keeps its last 4 minutes, and a late fix older than that is
    # judged from the store, as one older than the window always was.
    keep_s: float = 900.0
    keep_n: int = 16
    # Every device's fix is checked against the last good fix of the same device (rules/movement.py).
    # Top speed: 324 km/h, above fast road traffic and the KTX (305 km/h), so a subject on a train is
    # not frozen at the station he boarded; the accuracy discs are slack on top. Multipath jumps are
    # caught by the standstill test below, not by this limit.
    move_max_mps: float = 90.0
    # A jump of at least `still_jump_m` beyond both accuracies within `still_within_s`, while the
    # receiver itself measures a standstill (below `moving_mps`) and no speed it reported explains
    # the distance, is a multipath reflection until a second fix agrees.
    still_jump_m: float = 100.0
    still_within_s: float = 300.0
    # Where the receiver measured his speed at both fixes, the move between them must be one a vehicle
    # could make from the first speed to the second: accelerating and braking at `accel_mps2` (a
    # brisk car), at most `road_max_mps` between them (144 km/h, above Korea's expressway limits)
    # unless a measured speed was higher (a train). Stopped at a light, then parked 600 m on a
    # minute later, is such a move; walking at 1.2 m/s, then 2.3 km off at 1.2 m/s, is not.
    accel_mps2: float = 2.5
    road_max_mps: float = 40.0
    # A doubted fix asks its device to report every `confirm_interval_s` for `confirm_window_s`: the
    # next fix confirms it (escalating to what the rules say) or shows it was a glitch.
    confirm_interval_s: float = 10.0
    confirm_window_s: float = 300.0
    # A pair is at rest (proximity.at_rest: the near edge alone proves nothing for it) when both
    # receivers have measured a standstill in their places for at least this long.
    rest_min_s: float = 60.0
    # A fix that measured its wearer moving stands for where they are for this long at most against
    # the other party's newer fix: older, it says where they were (proximity: it may warn, it proves
    # no violation). Two reports at the usual 60 s; a party at rest stays where she was.
    moving_stands_s: float = 120.0
    # ... and within that, the fix is carried on along its velocity to the other's time
    # (proximity._in_step), its accuracy widened by this share of the way carried.
    step_slack: float = 0.25
    # A BLE contact (her device hearing his monitor's tag) stands against his positions measured up
    # to this long after it: a fix far off so soon after is a contradiction (one of them forged), not
    # proof he left; once contacts stop, his positions judge the pair again (rules/ble.py).
    ble_stands_s: float = 120.0
    # Between two consecutive plausible fixes of one device at most this far apart in time, the
    # straight line between them is believed (rules/between.py); the path must pass inside a zone or
    # her violation circle by more than both accuracies plus `inferred_depth_m`.
    inferred_within_s: float = 120.0
    # ... and up to this far apart when both fixes measured speed and heading and agree closely with
    # the straight line (`between.LONG_SPEED_SHARE`, `LONG_HEADING_DEG`): a 300 s monitor's bicycle
    # ride past her door, its fixes 900 m before and after her, was never a pass.
    inferred_measured_within_s: float = 600.0
    inferred_depth_m: float = 10.0
    # Pursuit mode (rules/pursuit.py): the devices of the people in a danger report this often, and
    # go back to normal this long after the last danger ended; back to normal is the device's
    # configured interval, or `normal_interval_s` when it has none.
    pursuit_interval_s: float = 15.0
    pursuit_hold_s: float = 300.0
    normal_interval_s: float = 60.0

    def margin(self, distance_m: float) -> float:
        return max(self.margin_min_m, distance_m * self.margin_fraction)
