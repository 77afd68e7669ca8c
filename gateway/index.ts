// gateway: the RoomService gRPC API internal services use to run rooms.
export { startGateway, type Gateway, type GatewayOptions } from "./gateway.js";
