package remote

import (
	"errors"
	"fmt"
	"io"
	"log/slog"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/legion-go/legion/actor/internal/protoactor/actor"
	"golang.org/x/net/context"
)

type endpointReader struct {
	suspended bool
	remote    *Remote
}

func (s *endpointReader) mustEmbedUnimplementedRemotingServer() {}

// Legion patch: these two panicked ("implement me"), and gRPC does not recover a
// handler's panic: one request killed the process. They answer Unimplemented.
func (s *endpointReader) ListProcesses(ctx context.Context, request *ListProcessesRequest) (*ListProcessesResponse, error) {
	return nil, status.Error(codes.Unimplemented, "ListProcesses is not implemented")
}

func (s *endpointReader) GetProcessDiagnostics(ctx context.Context, request *GetProcessDiagnosticsRequest) (*GetProcessDiagnosticsResponse, error) {
	return nil, status.Error(codes.Unimplemented, "GetProcessDiagnostics is not implemented")
}

func newEndpointReader(r *Remote) *endpointReader {
	return &endpointReader{
		remote: r,
	}
}

func (s *endpointReader) Receive(stream Remoting_ReceiveServer) error {
	disconnectChan := make(chan bool, 1)
	s.remote.edpManager.endpointReaderConnections.Store(stream, disconnectChan)
	defer func() {
		s.remote.Logger().Info("EndpointReader is closing")
		close(disconnectChan)
	}()

	go func() {
		// endpointManager sends true
		// endpointReader sends false
		if <-disconnectChan {
			s.remote.Logger().Debug("EndpointReader is telling to remote that it's leaving")
			err := stream.Send(&RemoteMessage{
				MessageType: &RemoteMessage_DisconnectRequest{
					DisconnectRequest: &DisconnectRequest{},
				},
			})
			if err != nil {
				s.remote.Logger().Error("EndpointReader failed to send disconnection message", slog.Any("error", err))
			}
		} else {
			s.remote.edpManager.endpointReaderConnections.Delete(stream)
			s.remote.Logger().Debug("EndpointReader removed active endpoint from endpointManager")
		}
	}()

	for {
		msg, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			s.remote.Logger().Info("EndpointReader stream closed")
			disconnectChan <- false
			return nil
		case err != nil:
			s.remote.Logger().Info("EndpointReader failed to read", slog.Any("error", err))
			return err
		case s.suspended:
			continue
		}

		switch t := msg.MessageType.(type) {
		case *RemoteMessage_ConnectRequest:
			s.remote.Logger().Debug("EndpointReader received connect request", slog.Any("message", t.ConnectRequest))
			c := t.ConnectRequest
			_, err := s.OnConnectRequest(stream, c)
			if err != nil {
				s.remote.Logger().Error("EndpointReader failed to handle connect request", slog.Any("error", err))
				return err
			}
		case *RemoteMessage_MessageBatch:
			m := t.MessageBatch
			err := s.onMessageBatch(m)
			if err != nil {
				s.remote.Logger().Error("EndpointReader failed to handle message batch", slog.Any("error", err))
				return err
			}
		default:
			{
				s.remote.Logger().Warn("EndpointReader received unknown message type")
			}
		}
	}
}

func (s *endpointReader) OnConnectRequest(stream Remoting_ReceiveServer, c *ConnectRequest) (bool, error) {
	switch tt := c.ConnectionType.(type) {
	case *ConnectRequest_ServerConnection:
		{
			sc := tt.ServerConnection
			s.onServerConnection(stream, sc)
		}
	case *ConnectRequest_ClientConnection:
		{
			// TODO implement me
			s.remote.Logger().Error("ClientConnection not implemented")
		}
	default:
		s.remote.Logger().Error("EndpointReader received unknown connection type")
		return true, nil
	}
	return false, nil
}

// Legion patch: onMessageBatch trusted the batch: an envelope's target, sender, type or
// serializer index out of range, or an unknown type name, panicked on the gRPC goroutine
// (which kills the process); a system message (Stop, Watch, Terminated, ...) or a
// PoisonPill acted on any local actor, and a target or a Terminated naming another
// address made this node dial it. Each envelope is now checked on its own: a bad one is
// dropped (counted, and logged once per batch), and the others are delivered.
func (s *endpointReader) onMessageBatch(m *MessageBatch) error {
	dropped, first := 0, error(nil)
	for _, envelope := range m.Envelopes {
		if err := s.deliver(m, envelope); err != nil {
			if dropped++; first == nil {
				first = err
			}
		}
	}
	if dropped > 0 {
		s.remote.Logger().Warn("EndpointReader dropped messages", slog.Int("dropped", dropped),
			slog.Int("envelopes", len(m.Envelopes)), slog.Any("error", first))
	}
	return nil
}

// errBadEnvelope wraps every reason an envelope is dropped.
var errBadEnvelope = errors.New("remote: bad envelope")

// deliver checks one envelope and delivers its message to its local target. A panic in
// decoding (a serializer's bug on hostile bytes) drops the envelope too.
func (s *endpointReader) deliver(m *MessageBatch, envelope *MessageEnvelope) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic: %v", errBadEnvelope, r)
		}
	}()
	if envelope == nil {
		return fmt.Errorf("%w: nil", errBadEnvelope)
	}
	sender, ok := deserializeSender(envelope.Sender, envelope.SenderRequestId, m.Senders)
	if !ok {
		return fmt.Errorf("%w: sender %d of %d", errBadEnvelope, envelope.Sender, len(m.Senders))
	}
	target, ok := deserializeTarget(envelope.Target, envelope.TargetRequestId, m.Targets)
	if !ok {
		return fmt.Errorf("%w: target %d of %d", errBadEnvelope, envelope.Target, len(m.Targets))
	}
	if target.Address != s.remote.actorSystem.Address() {
		return fmt.Errorf("%w: target address %q is not this node's", errBadEnvelope, target.Address)
	}
	if envelope.TypeId < 0 || int(envelope.TypeId) >= len(m.TypeNames) {
		return fmt.Errorf("%w: type %d of %d", errBadEnvelope, envelope.TypeId, len(m.TypeNames))
	}
	message, err := Deserialize(envelope.MessageData, m.TypeNames[envelope.TypeId], envelope.SerializerId)
	if err != nil {
		return fmt.Errorf("%w: %w", errBadEnvelope, err)
	}

	// translate from on-the-wire representation to in-process representation
	// this only applies to root level messages, and never on nested child messages
	if v, ok := message.(RootSerialized); ok {
		if message, err = v.Deserialize(); err != nil {
			return fmt.Errorf("%w: %w", errBadEnvelope, err)
		}
	}

	switch message.(type) {
	case actor.SystemMessage, actor.AutoReceiveMessage:
		// Lifecycle messages are not taken from the network: Legion sends none across
		// nodes, and one names any local actor to stop, watch or restart.
		return fmt.Errorf("%w: lifecycle message %T", errBadEnvelope, message)
	}
	// fast path
	if sender == nil && envelope.MessageHeader == nil {
		s.remote.actorSystem.Root.Send(target, message)
		return nil
	}

	// slow path
	var header map[string]string
	if envelope.MessageHeader != nil {
		header = envelope.MessageHeader.HeaderData
	}
	s.remote.actorSystem.Root.Send(target, &actor.MessageEnvelope{
		Header:  header,
		Message: message,
		Sender:  sender,
	})
	return nil
}

// deserializeSender returns the envelope's sender (nil for index 0) and whether the index
// names one.
func deserializeSender(index int32, requestId uint32, arr []*actor.PID) (*actor.PID, bool) {
	if index == 0 {
		return nil, true
	}
	if index < 0 || int(index) > len(arr) || arr[index-1] == nil {
		return nil, false
	}
	return withRequestID(arr[index-1], requestId), true
}

// deserializeTarget returns the envelope's target and whether the index names one.
func deserializeTarget(index int32, requestId uint32, arr []*actor.PID) (*actor.PID, bool) {
	if index < 0 || int(index) >= len(arr) || arr[index] == nil {
		return nil, false
	}
	return withRequestID(arr[index], requestId), true
}

// withRequestID returns pid with its request id set; if one is used, on a clone, so as
// not to corrupt the batch's lookup table.
func withRequestID(pid *actor.PID, requestId uint32) *actor.PID {
	if requestId > 0 {
		pid, _ = proto.Clone(pid).(*actor.PID)
		pid.RequestId = requestId
	}
	return pid
}

func (s *endpointReader) onServerConnection(stream Remoting_ReceiveServer, sc *ServerConnection) {
	if s.remote.BlockList().IsBlocked(sc.SystemId) {
		s.remote.Logger().Debug("EndpointReader is blocked")

		err := stream.Send(
			&RemoteMessage{
				MessageType: &RemoteMessage_ConnectResponse{
					ConnectResponse: &ConnectResponse{
						Blocked:  true,
						MemberId: s.remote.actorSystem.ID,
					},
				},
			})
		if err != nil {
			s.remote.Logger().Error("EndpointReader failed to send ConnectResponse message", slog.Any("error", err))
		}

		address := sc.Address
		systemID := sc.SystemId

		// TODO
		_ = address
		_ = systemID
	} else {
		err := stream.Send(
			&RemoteMessage{
				MessageType: &RemoteMessage_ConnectResponse{
					ConnectResponse: &ConnectResponse{
						Blocked:  false,
						MemberId: s.remote.actorSystem.ID,
					},
				},
			})
		if err != nil {
			s.remote.Logger().Error("EndpointReader failed to send ConnectResponse message", slog.Any("error", err))
		}
	}
}

func (s *endpointReader) suspend(toSuspend bool) {
	s.suspended = toSuspend
	if toSuspend {
		s.remote.Logger().Debug("Suspended EndpointReader")
	}
}
