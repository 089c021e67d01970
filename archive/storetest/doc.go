// Package storetest is the conformance suite every archive.ObjectStore
// passes: the WORM behaviour holdfast relies on (COMPLIANCE retention,
// refused deletes, legal holds, retention that only grows, versions) stated
// once and run against each implementation from its own tests:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) archive.ObjectStore { return mustOpen(t) })
//	}
//
// The suite uses the wall clock: retention that must pass is set a couple of
// seconds ahead and waited out, so a run takes a few seconds. Subtests run in
// parallel, each with a store of its own.
package storetest
