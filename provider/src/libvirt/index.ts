export * from "./client";
export * from "./errors";
export * from "./events";
export * from "./pool";
export * from "./protocol";
export * from "./types";
