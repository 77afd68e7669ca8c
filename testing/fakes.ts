// Fakes for tests, in one place and named as fakes. Production code never uses them.
import { RoomServiceService, type RoomServiceServer } from "../proto/index.js";
import { UnimplementedError } from "../errors/internal.js";
import { serverStream, unary, type GrpcServiceRegistration } from "../transport/index.js";

const unimplemented = () => Promise.reject(new UnimplementedError("not implemented by this fake"));

/** A RoomService whose methods answer UNIMPLEMENTED except those the test provides. */
export function fakeRoomService(methods: Partial<RoomServiceServer> = {}): GrpcServiceRegistration {
  const implementation: RoomServiceServer = {
    createRoom: unary("CreateRoom", unimplemented),
    getRoom: unary("GetRoom", unimplemented),
    listRooms: unary("ListRooms", unimplemented),
    updateRoom: unary("UpdateRoom", unimplemented),
    startRoom: unary("StartRoom", unimplemented),
    stopRoom: unary("StopRoom", unimplemented),
    postComment: unary("PostComment", unimplemented),
    say: unary("Say", unimplemented),
    interrupt: unary("Interrupt", unimplemented),
    watchRoom: serverStream("WatchRoom", () => ({
      [Symbol.asyncIterator]: () => ({ next: unimplemented }),
    })),
    ...methods,
  };
  return { name: "livehost.v1.RoomService", definition: RoomServiceService, implementation };
}
