//go:build race

package main

// allocSlack widens the allocation budgets under the race detector, which
// makes sync.Pool drop a share of what is put back (so counts vary).
const allocSlack = 1.3
