package coordinator

import (
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/kop-project/kop/raftmeta"
)

// State is a group's state in the classic protocol.
type State int

// The classic group states, as Kafka names them.
const (
	Empty State = iota
	PreparingRebalance
	CompletingRebalance
	Stable
	Dead
)

func (s State) String() string {
	switch s {
	case Empty:
		return "Empty"
	case PreparingRebalance:
		return "PreparingRebalance"
	case CompletingRebalance:
		return "CompletingRebalance"
	case Stable:
		return "Stable"
	default:
		return "Dead"
	}
}

type member struct {
	id, instanceID, clientID, clientHost string
	protocolType                         string
	protocols                            []raftmeta.GroupProtocol
	rebalanceTimeout, sessionTimeout     int32 // ms
	assignment                           []byte

	join        chan *kmsg.JoinGroupResponse // parked JoinGroup, nil when none
	joinVersion int16
	sync        chan *kmsg.SyncGroupResponse // parked SyncGroup, nil when none
	syncVersion int16
	session     Timer
}

func (m *member) metadataFor(protocol string) []byte {
	for _, p := range m.protocols {
		if p.Name == protocol {
			return p.Metadata
		}
	}
	return nil
}

// matches reports whether the member's protocols are the same as ps.
func (m *member) matches(ps []kmsg.JoinGroupRequestProtocol) bool {
	if len(ps) != len(m.protocols) {
		return false
	}
	for i, p := range ps {
		if p.Name != m.protocols[i].Name || string(p.Metadata) != string(m.protocols[i].Metadata) {
			return false
		}
	}
	return true
}

// group is one consumer group. mu guards every field but id and epoch
// (fixed at creation); it is never held while waiting on the store.
type group struct {
	mu    sync.Mutex
	id    string
	epoch uint64 // the coordinator's leadership epoch the group belongs to

	state        State
	protocolType string
	protocol     string
	generation   int32
	leader       string
	members      map[string]*member
	static       map[string]string // group.instance.id → member id
	pending      map[string]Timer  // member ids handed out with MEMBER_ID_REQUIRED

	rebalance      Timer // join or sync phase deadline
	initialDelay   bool  // in the initial rebalance delay
	newMemberAdded bool

	// Durable writes (see Coordinator): lastWrite is closed when the
	// last write decided is done; queued are the writes decided under
	// the lock held now, made by c.unlock.
	lastWrite <-chan struct{}
	queued    []*groupWrite
	// storing is the leader's SyncGroup assignment being written, nil
	// when none.
	storing *groupWrite
	// deleting is closed when DeleteGroups has written the group's
	// deletion (and removed it, or kept it when the write failed); nil
	// when no deletion is under way.
	deleting chan struct{}
}

func newGroup(id string, epoch uint64) *group {
	return &group{id: id, epoch: epoch, members: map[string]*member{}, static: map[string]string{}, pending: map[string]Timer{}}
}

// writing reports whether a durable write of g is still under way.
func (g *group) writing() bool {
	if g.lastWrite == nil {
		return false
	}
	select {
	case <-g.lastWrite:
		return false
	default:
		return true
	}
}

func (g *group) stopTimers() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	for _, m := range g.members {
		if m.session != nil {
			m.session.Stop()
		}
	}
	for _, t := range g.pending {
		t.Stop()
	}
}

func (g *group) stopRebalanceTimer() {
	if g.rebalance != nil {
		g.rebalance.Stop()
		g.rebalance = nil
	}
	g.initialDelay = false
}

func (g *group) maxRebalanceTimeout() time.Duration {
	var d int32
	for _, m := range g.members {
		d = max(d, m.rebalanceTimeout)
	}
	return time.Duration(d) * time.Millisecond
}

func (g *group) allJoined() bool {
	if len(g.pending) > 0 {
		return false
	}
	for _, m := range g.members {
		if m.join == nil {
			return false
		}
	}
	return true
}

// candidates are the protocols every member supports.
func (g *group) candidates() map[string]bool {
	count := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			count[p.Name]++
		}
	}
	out := map[string]bool{}
	for p, n := range count {
		if n == len(g.members) {
			out[p] = true
		}
	}
	return out
}

// supports reports whether a member with these protocols may join.
func (g *group) supports(protocolType string, ps []kmsg.JoinGroupRequestProtocol) bool {
	if protocolType == "" || len(ps) == 0 {
		return false
	}
	if len(g.members) == 0 {
		return true
	}
	if protocolType != g.protocolType {
		return false
	}
	cand := g.candidates()
	for _, p := range ps {
		if cand[p.Name] {
			return true
		}
	}
	return false
}

// selectProtocol picks, among the protocols every member supports, the
// one most members prefer: each member votes for its most preferred
// candidate. Ties go to the leader's preference order.
func (g *group) selectProtocol() string {
	cand := g.candidates()
	votes := map[string]int{}
	for _, m := range g.members {
		for _, p := range m.protocols {
			if cand[p.Name] {
				votes[p.Name]++
				break
			}
		}
	}
	order := sortedKeys(g.members)
	if l, ok := g.members[g.leader]; ok {
		order = append([]string{l.id}, order...)
	}
	best, bestVotes := "", -1
	for _, id := range order {
		for _, p := range g.members[id].protocols {
			if cand[p.Name] && votes[p.Name] > bestVotes {
				best, bestVotes = p.Name, votes[p.Name]
			}
		}
	}
	return best
}

// record is g's durable form.
func (g *group) record(nowMs int64) raftmeta.Group {
	rec := raftmeta.Group{
		ID: g.id, ProtocolType: g.protocolType, Protocol: g.protocol,
		Generation: g.generation, Leader: g.leader, UpdatedMs: nowMs,
		State: raftmeta.GroupStateStable,
	}
	if len(g.members) == 0 {
		rec.State = raftmeta.GroupStateEmpty
		rec.Leader, rec.Protocol = "", ""
	}
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		rec.Members = append(rec.Members, raftmeta.GroupMember{
			MemberID: m.id, GroupInstanceID: m.instanceID, ClientID: m.clientID, ClientHost: m.clientHost,
			RebalanceTimeoutMs: m.rebalanceTimeout, SessionTimeoutMs: m.sessionTimeout,
			Protocols: m.protocols, Assignment: m.assignment,
		})
	}
	return rec
}

// restore rebuilds a group from its durable record; the caller starts the
// members' session timers.
func restore(rec raftmeta.Group, epoch uint64) *group {
	g := newGroup(rec.ID, epoch)
	g.protocolType, g.protocol, g.generation, g.leader = rec.ProtocolType, rec.Protocol, rec.Generation, rec.Leader
	g.state = Empty
	if rec.State == raftmeta.GroupStateStable && len(rec.Members) > 0 {
		g.state = Stable
		for _, rm := range rec.Members {
			m := &member{
				id: rm.MemberID, instanceID: rm.GroupInstanceID, clientID: rm.ClientID, clientHost: rm.ClientHost,
				protocolType: rec.ProtocolType, protocols: rm.Protocols,
				rebalanceTimeout: rm.RebalanceTimeoutMs, sessionTimeout: rm.SessionTimeoutMs, assignment: rm.Assignment,
			}
			g.members[m.id] = m
			if m.instanceID != "" {
				g.static[m.instanceID] = m.id
			}
		}
	}
	return g
}

// heartbeatLocked restarts m's session timer.
func (c *Coordinator) heartbeatLocked(g *group, m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	m.session = c.after(g, time.Duration(m.sessionTimeout)*time.Millisecond, func() {
		if g.members[m.id] != m {
			return
		}
		if m.join != nil || m.sync != nil {
			// Parked in a rebalance: the rebalance timeout bounds it.
			c.heartbeatLocked(g, m)
			return
		}
		c.log.Info("consumer group member session expired", "group", g.id, "member", m.id)
		c.removeMemberAndUpdateLocked(g, m, "session timeout")
	})
}

func (c *Coordinator) removeMemberLocked(g *group, m *member) {
	if m.session != nil {
		m.session.Stop()
	}
	c.answerParked(m, kerr.UnknownMemberID)
	delete(g.members, m.id)
	if m.instanceID != "" && g.static[m.instanceID] == m.id {
		delete(g.static, m.instanceID)
	}
	if g.leader == m.id {
		g.leader = ""
		if ids := sortedKeys(g.members); len(ids) > 0 {
			g.leader = ids[0]
		}
	}
}

func (c *Coordinator) removeMemberAndUpdateLocked(g *group, m *member, reason string) {
	c.removeMemberLocked(g, m)
	switch g.state {
	case Stable, CompletingRebalance:
		c.prepareRebalanceLocked(g, "member left: "+reason)
	case PreparingRebalance:
		c.maybeCompleteJoinLocked(g)
	}
}

func (c *Coordinator) prepareRebalanceLocked(g *group, reason string) {
	if g.state == CompletingRebalance {
		for _, m := range g.members {
			m.assignment = nil
			if m.sync != nil {
				r := kmsg.NewPtrSyncGroupResponse()
				r.Version = m.syncVersion
				r.ErrorCode = kerr.RebalanceInProgress.Code
				m.sync <- r
				m.sync = nil
			}
		}
	}
	g.stopRebalanceTimer()
	wasEmpty := g.state == Empty
	g.state = PreparingRebalance
	c.log.Debug("preparing rebalance", "group", g.id, "generation", g.generation, "reason", reason)
	if wasEmpty {
		delay := c.cfg.InitialRebalanceDelay
		c.initialDelayLocked(g, delay, max(g.maxRebalanceTimeout()-delay, 0))
		return
	}
	g.rebalance = c.after(g, g.maxRebalanceTimeout(), func() { c.completeJoinLocked(g) })
}

// initialDelayLocked waits for more members before the first rebalance of
// an empty group, extending while members keep arriving (Kafka's
// InitialDelayedJoin).
func (c *Coordinator) initialDelayLocked(g *group, delay, remaining time.Duration) {
	g.initialDelay = true
	g.newMemberAdded = false
	g.rebalance = c.after(g, delay, func() {
		if g.state != PreparingRebalance {
			return
		}
		if g.newMemberAdded && remaining > 0 {
			d := min(delay, remaining)
			c.initialDelayLocked(g, d, remaining-d)
			return
		}
		c.completeJoinLocked(g)
	})
}

func (c *Coordinator) maybeCompleteJoinLocked(g *group) {
	if g.state == PreparingRebalance && !g.initialDelay && g.allJoined() {
		c.completeJoinLocked(g)
	}
}

// completeJoinLocked ends the join phase: members that did not rejoin are
// removed, the next generation starts and the parked JoinGroups answered.
func (c *Coordinator) completeJoinLocked(g *group) {
	if g.state != PreparingRebalance {
		return
	}
	g.stopRebalanceTimer()
	for _, id := range sortedKeys(g.members) {
		if m := g.members[id]; m.join == nil {
			c.log.Info("removing member that did not rejoin in time", "group", g.id, "member", id)
			c.removeMemberLocked(g, m)
		}
	}
	g.generation++
	c.metrics.rebalances.Inc()
	if len(g.members) == 0 {
		g.state, g.protocol, g.leader = Empty, "", ""
		// Written once the lock is released; nothing waits for it.
		c.queueWriteLocked(g, false)
		c.log.Info("consumer group is empty", "group", g.id, "generation", g.generation)
		return
	}
	if _, ok := g.members[g.leader]; !ok {
		g.leader = sortedKeys(g.members)[0]
	}
	g.protocol = g.selectProtocol()
	g.state = CompletingRebalance
	c.log.Info("consumer group rebalanced", "group", g.id, "generation", g.generation, "members", len(g.members), "protocol", g.protocol)
	for _, id := range sortedKeys(g.members) {
		m := g.members[id]
		r := kmsg.NewPtrJoinGroupResponse()
		r.Version = m.joinVersion
		c.fillJoin(g, m, r, m.id == g.leader)
		m.join <- r
		m.join = nil
		c.heartbeatLocked(g, m)
	}
	// Members that do not SyncGroup within the rebalance timeout are
	// removed and the group rebalances (as Kafka's pending sync).
	gen := g.generation
	g.rebalance = c.after(g, g.maxRebalanceTimeout(), func() {
		if g.state != CompletingRebalance || g.generation != gen {
			return
		}
		removed := false
		for _, id := range sortedKeys(g.members) {
			if m := g.members[id]; m.sync == nil {
				c.removeMemberLocked(g, m)
				removed = true
			}
		}
		if removed || len(g.members) == 0 {
			c.prepareRebalanceLocked(g, "members did not sync in time")
		}
	})
}

func (c *Coordinator) fillJoin(g *group, m *member, r *kmsg.JoinGroupResponse, withMembers bool) {
	r.Generation = g.generation
	pt, p := g.protocolType, g.protocol
	r.ProtocolType, r.Protocol = &pt, &p
	r.LeaderID = g.leader
	r.MemberID = m.id
	if withMembers {
		for _, id := range sortedKeys(g.members) {
			om := g.members[id]
			jm := kmsg.NewJoinGroupResponseMember()
			jm.MemberID = om.id
			if om.instanceID != "" {
				inst := om.instanceID
				jm.InstanceID = &inst
			}
			jm.ProtocolMetadata = om.metadataFor(g.protocol)
			r.Members = append(r.Members, jm)
		}
	}
}
