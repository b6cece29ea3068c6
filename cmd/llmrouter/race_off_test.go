//go:build !race

package main

// allocSlack widens the allocation budgets under the race detector only.
const allocSlack = 1.0
