package consul

import (
	"fmt"
	"net"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/legion-go/legion/discovery"
)

// Service metadata keys written by this package next to those of
// [discovery.EncodeMeta].
const (
	metaPeer     = "peer"
	metaName     = "name"
	metaInstance = "instance"
)

// Limits Consul (agent/structs) puts on service metadata; lengths in bytes.
const (
	maxMetaPairs    = 64
	maxMetaKeyLen   = 128
	maxMetaValueLen = 512
)

// checkID is the ID of the TTL check of the registration with service ID id.
func checkID(id string) string { return "service:" + id }

// serviceMeta encodes m into Consul service metadata, checking Consul's limits.
func serviceMeta(m discovery.Member) (map[string]string, error) {
	meta, err := discovery.EncodeMeta(m.Kinds, m.Meta)
	if err != nil {
		return nil, err
	}
	meta[metaPeer], meta[metaName], meta[metaInstance] = m.Peer, m.Name, m.Instance
	if len(meta) > maxMetaPairs {
		return nil, fmt.Errorf("%w: consul: %d service meta keys, at most %d", discovery.ErrMetaTooLarge, len(meta), maxMetaPairs)
	}
	for k, v := range meta {
		if len(k) > maxMetaKeyLen {
			return nil, fmt.Errorf("%w: consul: service meta key %q longer than %d bytes", discovery.ErrMetaTooLarge, k, maxMetaKeyLen)
		}
		if len(v) > maxMetaValueLen {
			return nil, fmt.Errorf("%w: consul: service meta value of %q longer than %d bytes", discovery.ErrMetaTooLarge, k, maxMetaValueLen)
		}
	}
	return meta, nil
}

// registration builds the agent service registration of m.
func (p *Provider) registration(m discovery.Member, meta map[string]string) *api.AgentServiceRegistration {
	host, port, _ := net.SplitHostPort(m.Address) // validated by Start
	portN, _ := strconv.Atoi(port)
	check := &api.AgentServiceCheck{
		CheckID: checkID(m.ID()),
		Name:    "legion member TTL",
		TTL:     p.cfg.TTL.String(),
		Status:  api.HealthPassing,
	}
	if p.cfg.DeregisterCriticalAfter > 0 {
		check.DeregisterCriticalServiceAfter = p.cfg.DeregisterCriticalAfter.String()
	}
	return &api.AgentServiceRegistration{
		ID:      m.ID(),
		Name:    p.cfg.Service,
		Address: host,
		Port:    portN,
		Meta:    meta,
		Check:   check,
	}
}

// memberOf decodes the member registered as s.
func memberOf(s *api.AgentService) (discovery.Member, error) {
	if s == nil {
		return discovery.Member{}, fmt.Errorf("%w: consul: entry without service", discovery.ErrBadMeta)
	}
	kinds, meta, err := discovery.DecodeMeta(s.Meta)
	if err != nil {
		return discovery.Member{}, err
	}
	m := discovery.Member{
		Peer:     s.Meta[metaPeer],
		Name:     s.Meta[metaName],
		Instance: s.Meta[metaInstance],
		Address:  net.JoinHostPort(s.Address, strconv.Itoa(s.Port)),
		Kinds:    kinds,
		Meta:     meta,
	}
	if err := m.Validate(); err != nil {
		return discovery.Member{}, fmt.Errorf("%w: consul: service %q: %v", discovery.ErrBadMeta, s.ID, err)
	}
	return m, nil
}
