package admin

import (
	"errors"
	"net/http"

	"github.com/legion-go/legion/actor"
	"github.com/legion-go/legion/lattice"
)

// EjectResult is the answer of POST /api/eject (actor.EjectResult).
type EjectResult struct {
	Peer string `json:"peer"`
	// Partitions is how many of the node's active replicas will write the peer's
	// ejection; Others, how many name it but are written elsewhere or blocked (eject on
	// every live node).
	Partitions int `json:"partitions"`
	Others     int `json:"others"`
}

// eject is POST /api/eject?peer=P&confirm=P: the operator declares P dead, and this
// node's replicas eject it now (actor.Node.Eject). The confirmation repeats the peer, so
// that a request cannot eject by accident (a replayed URL without it, a typo in one of
// the two). Refusals: 403 without Options.Actions, 400 without the confirmation, 409
// when the node refuses (the peer is live, unknown or this node; no majority), 503 on a
// stopped node.
func (h *handler) eject(w http.ResponseWriter, r *http.Request) {
	peer, confirm := r.FormValue("peer"), r.FormValue("confirm")
	log := h.opts.Logger.With("peer", peer, "remote", r.RemoteAddr)
	if !h.opts.Actions {
		log.Warn("operator action refused: actions are off", "action", "eject")
		writeError(w, http.StatusForbidden, "actions are off: this admin API is read-only (admin.Options.Actions)")
		return
	}
	switch {
	case peer == "":
		writeError(w, http.StatusBadRequest, "peer is required: POST /api/eject?peer=P&confirm=P")
		return
	case confirm != peer:
		log.Warn("operator action refused: not confirmed", "action", "eject")
		writeError(w, http.StatusBadRequest, "not confirmed: repeat the peer in confirm= (confirm=\""+peer+"\") to eject it")
		return
	}
	res, err := h.node.Eject(lattice.Peer(peer))
	switch {
	case errors.Is(err, actor.ErrStopped):
		writeError(w, http.StatusServiceUnavailable, err.Error())
		return
	case err != nil:
		log.Warn("operator action refused", "action", "eject", "err", err.Error())
		writeError(w, http.StatusConflict, err.Error())
		return
	}
	log.Warn("operator action", "action", "eject", "partitions", res.Partitions, "others", res.Others)
	writeJSON(w, http.StatusOK, EjectResult{Peer: peer, Partitions: res.Partitions, Others: res.Others})
}
