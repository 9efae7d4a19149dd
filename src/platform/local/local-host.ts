/** Local instances listen on loopback: the data plane reaches them there. */
export const LOCAL_HOST = '127.0.0.1';
