// gateway: the RoomService gRPC API internal services use to run rooms.
export { startGateway, type GatewayAuth } from "./gateway.js";
