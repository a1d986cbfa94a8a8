// Package rules evaluates per-patient monitoring rules on a stream of
// normalised readings: thresholds held for a duration ("SpO2 < 90 % for 5
// min"), trends ("weight gain > 2 kg in 3 days", the heart-failure
// telemonitoring rule of thumb, e.g. ESC heart-failure guidelines 2021 and
// NICE NG106), rates of change, and missing data ("no SpO2 reading for 4 h").
//
// A Rule is a plain JSON-able struct, so a programme's rules can come from a
// FHIR CarePlan or a configuration file. A Patient holds one patient's rules
// and recent readings; feed it every accepted reading with Observe and call
// Tick periodically for the missing-data rules. Both return Events: a
// finding when a rule starts to hold, and a cleared event when it stops. The
// alert lifecycle (deduplication, acknowledgement, escalation) is the
// caller's. Time is never read from the clock: it comes from readings and
// from Tick, so tests are deterministic.
//
// # Semantics
//
// Readings are matched to a rule by parameter (vitals.Param): a rule on SpO2
// code 2708-6 also sees 59408-5 readings, and a glucose rule in mg/dL sees
// mmol/L readings converted. Readings are kept in time order; a late reading
// is inserted where it belongs and every rule on its parameter is evaluated
// again, so late and out-of-order data give the same findings as in-order
// data, judged at the time of the newest reading T:
//
//   - threshold: Op Value held for For: every reading in [T−For, T]
//     satisfies it and so does the reading at or just before T−For (the
//     window is covered, not merely sampled once). With MaxGap set, no two
//     consecutive readings of that span are further apart. For = 0 judges the
//     newest reading alone.
//   - trend: the newest reading minus the lowest (for > and >=) or highest
//     (for < and <=) earlier reading within Window, compared with Value: a
//     gain of more than 2 kg is {Op: ">", Value: 2}, a loss of more than 2 kg
//     {Op: "<", Value: -2}.
//   - rate: the least-squares slope of the readings within Window, in units
//     per Per (default one hour), compared with Value; it needs at least two
//     readings spanning at least half the window.
//   - missing: more than For has passed since the newest reading, measured
//     at the latest time known (the newest Tick or reading); before any
//     reading, since the Patient was created.
//
// A threshold, trend or rate finding is judged only when a reading of its
// parameter arrives, so it stays active while the device is silent: pair
// such rules with a missing-data rule.
//
// # Cost
//
// Memory per patient is proportional to the readings within the longest
// window of each parameter; older readings are dropped, and a late reading
// older than that horizon no longer changes any result. Per reading, a
// trend rule costs O(1) amortised (a monotonic deque; a late reading
// rebuilds it in O(window)), a threshold rule O(readings in For) while it
// holds and O(1) otherwise, and a rate rule O(readings in Window) (a
// least-squares fit). Keep rate windows short on high-rate parameters.
package rules
