// Package targetstest holds the shared parts of the fake ATS servers, jobaddertest and
// bullhorntest, as httptest holds those of HTTP tests: the seeded fault dice that pick the
// calls answered 429, 5xx or late and count them ([Dice]), the answer held back and sent late
// ([HeldAnswer]), latency ([Sleep]), the status recorder a fake counts requests with
// ([Recorder]), the count of accepted connections ([Conns]), the checks of a Config's rates
// and durations ([CheckRates], [CheckDurations]) and a clock tests set by hand ([Clock]).
//
// Each fake still decides what its faults look like (status line, body, headers) and what its
// State reports; this package decides when. hrflowtest, the fake HrFlow, uses Sleep,
// Recorder and Conns; its fault dice are its own.
package targetstest
