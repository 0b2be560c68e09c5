package lattice

import "fmt"

// ApplyError is the error output of an event whose Apply returned an error or panicked.
type ApplyError struct {
	ID    EventID
	Msg   string
	Panic bool // Apply panicked (rather than returning an error)
}

func (e *ApplyError) Error() string {
	if e.Panic {
		return fmt.Sprintf("lattice: apply of %v panicked: %s", e.ID, e.Msg)
	}
	return fmt.Sprintf("lattice: apply of %v: %s", e.ID, e.Msg)
}

// apply runs the user's Apply on state (which the caller owns and gives away), turning a
// panic or an error into an *ApplyError. On error the returned state is unspecified: the
// caller must fall back to a copy it kept.
func (s *State[S, E, O]) apply(state S, id EventID, d *Delta[E]) (next S, out O, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &ApplyError{ID: id, Msg: fmt.Sprint(r), Panic: true}
		}
	}()
	next, out, err = s.behavior.Apply(state, d.Event, Meta{ID: id, Time: d.Time, Version: d.Version})
	if err != nil {
		err = &ApplyError{ID: id, Msg: err.Error()}
	}
	return next, out, err
}

// applySafe applies d to a clone of state: state itself is never touched, and on failure it
// is returned as it was.
func (s *State[S, E, O]) applySafe(state S, id EventID, d *Delta[E]) (S, O, error) {
	next, out, err := s.apply(s.behavior.clone(state), id, d)
	if err != nil {
		return state, out, err
	}
	return next, out, nil
}
