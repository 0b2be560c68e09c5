package remote

import (
	"context"
	"log/slog"
	"runtime/debug"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Legion patch: the gRPC interceptors that recover a handler's panic, so that no request
// (however malformed) kills the process. The panic is logged with its stack and the call
// or stream ends with codes.Internal.

func (r *Remote) recoverUnary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.recovered(info.FullMethod, p)
		}
	}()
	return handler(ctx, req)
}

func (r *Remote) recoverStream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = r.recovered(info.FullMethod, p)
		}
	}()
	return handler(srv, ss)
}

func (r *Remote) recovered(method string, p any) error {
	r.Logger().Error("remote: handler panicked", slog.String("method", method), slog.Any("panic", p),
		slog.String("stack", string(debug.Stack())))
	return status.Errorf(codes.Internal, "%s panicked", method)
}
