// Package chaos holds the chaos test of hrpush: the real binaries (three workers, enqueue and
// the sandbox) run against one NATS JetStream server while the fake ATSs inject latency, 5xx,
// 429 and answers slower than the workers' AckWait, and one worker is killed with SIGKILL and
// restarted every few seconds. At the end every good profile must exist exactly once at its
// ATS, with its rows and its resume; the deliberately bad jobs must be exactly the DLQ's
// content; the jobs stream must be empty; and no authorization code or refresh token may have
// been used twice.
//
// # Running it
//
// The package has only a test. go test ./... runs a small version (300 profiles, 5 kills, under
// a minute on two cores); -short skips it. make chaos runs the big one, killing until the end:
//
//	HRPUSH_CHAOS_PROFILES=2000 go test -run Chaos -v -timeout 30m ./chaos/
//
// HRPUSH_CHAOS_PROFILES sets the number of profiles (split over JobAdder and Bullhorn; 1 % more
// are missing from HrFlow and 4 jobs are malformed) and lifts the limit on kills;
// HRPUSH_CHAOS_KILLS sets that limit (0: kill until the batches are done), HRPUSH_CHAOS_SEED the
// seed of the profiles and of the fault dice, and HRPUSH_CHAOS_LOGS a directory that keeps the
// processes' logs. The child binaries are built without the race detector whatever the test's
// flags. The test logs the run's figures (kills, retries, recoveries, DLQ, duplicates, lost
// profiles, faults injected, run time).
package chaos
