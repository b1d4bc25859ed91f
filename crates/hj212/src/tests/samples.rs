//! Published sample frames (hj212.md §4), with their sources. Each is the frame text without its
//! terminator; the CRCs were checked against an independent implementation of HJ 212-2017 App. A.

/// HJ 212-2017 Appendix A's own vector (CN=1062 set real-time interval); CRC 1C80.
pub const STD17_1062: &str = "\
    ##0101QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;\
    CP=&&RtdInterval=30&&1C80";

/// Wastewater real-time data with SampleTime (hupengwu/Fox-Edge-Server TestPduEntity.java); 6E80.
pub const HUPENGWU_2011: &str = "\
    ##0457QN=20210320163101890;ST=32;CN=2011;PW=123456;MN=81733553213013;Flag=4;\
    CP=&&DataTime=20210320013400;w00000-Rtd=181.682,w00000-Flag=N;\
    w21001-SampleTime=20210320005400,w21001-Rtd=45.160,w21001-Flag=N;\
    w21011-SampleTime=20210320013400,w21011-Rtd=1.970,w21011-Flag=N;\
    w21003-SampleTime=20210320013400,w21003-Rtd=53.131,w21003-Flag=N;\
    w01018-SampleTime=20210320013400,w01018-Rtd=194.200,w01018-Flag=N;\
    w01001-SampleTime=20210320013406,w01001-Rtd=7.496,w01001-Flag=N&&6E80";

/// Surface water, `Flag=8` (2025 version bits), extension code w01003, lower-case CRC
/// (chenqi92/alltobs-hj212 README); 7d00.
pub const CHENQI92_FLAG8: &str = "\
    ##0435QN=20210301111100112;ST=21;CN=2011;PW=123456;MN=ZLDSZ20210127;Flag=8;\
    CP=&&DataTime=20210301111100;w01001-Rtd=8.33,w01001-Flag=N;w01009-Rtd=10.15,w01009-Flag=N;\
    w01010-Rtd=9.7,w01010-Flag=N;w01014-Rtd=1425,w01014-Flag=N;w01003-Rtd=13.10,w01003-Flag=N;\
    w21011-Rtd=0,w21011-Flag=N;w21001-Rtd=3.563168,w21001-Flag=N;w21003-Rtd=0.09055002,\
    w21003-Flag=N;w01019-Rtd=4.102818,w01019-Flag=N;w01008-Rtd=0,w01008-Flag=N;w23002-Rtd=0,\
    w23002-Flag=N&&7d00";

/// Hourly data CN=2061 with a 24-char PW (IceCoffee); C181.
pub const ICECOFFEE_2061: &str = "\
    ##0285QN=20190925181031464;ST=22;CN=2061;PW=BF470F88957588DE902D1A52;MN=Z13401000010301;\
    Flag=5;CP=&&DataTime=20190924220000;a34006-Avg=2.69700,a34006-Flag=N;a34007-Avg=7.96600,\
    a34007-Flag=N;a34048-Avg=3.30600,a34048-Flag=N;a34047-Avg=7.35700,a34047-Flag=N;\
    a34049-Avg=10.66300,a34049-Flag=N&&C181";

/// Minute data CN=2051 (flash520/hj212 parse_test.go, sent without CRLF); D641.
pub const FLASH520_2051: &str = "\
    ##0411QN=20220513162608370;ST=22;CN=2051;PW=123456;MN=JLYP01_AIR01_0001;Flag=4;\
    CP=&&DataTime=20220513162600;a21004-Avg=4,a21004-Flag=N;a05024-Avg=63,a05024-Flag=N;\
    a21026-Avg=6,a21026-Flag=N;a21005-Avg=0.427,a21005-Flag=N;a34004-Avg=14,a34004-Flag=N;\
    a34002-Avg=31,a34002-Flag=N;a01007-Avg=1,a01007-Flag=N;a01008-Avg=11,a01008-Flag=N;\
    a01001-Avg=17,a01001-Flag=N;a01002-Avg=85,a01002-Flag=N;a01006-Avg=95,a01006-Flag=N&&D641";

/// PNO/PNUM without Flag, zero-padded (libem/HJ212-Moniter App.java); 2800.
pub const LIBEM_PNO_PNUM: &str = "\
    ##0204QN=20191112091100598;ST=31;CN=2051;PW=123456;MN=14513567846884;PNO=0002;PNUM=0002;\
    CP=&&DataTime=20191112090000;a01006-Avg=101.85,a01006-Min=101.84,a01006-Max=101.87,\
    a01006-ValidNum=10,a01006-TotalNum=10&&2800";

/// 9011 request answer (README of a C# HJ212 library); CC01.
pub const ANSWER_9011: &str = "\
    ##0094QN=20231008125115215;ST=22;CN=9011;PW=123456;MN=010000A8900016F000169DC0;Flag=4;\
    CP=&&QnRtn=1&&CC01";

/// 2081 data-logger restart time; 3AC0.
pub const DATALOGGER_2081: &str = "\
    ##0137QN=20231008130452757;ST=22;CN=2081;PW=123456;MN=010000A8900016F000169DC0;Flag=5;\
    CP=&&DataTime=20231008130452;RestartTime=20231007130452&&3AC0";

/// 9014 data answer with empty CP, lower-case CRC (xiaoyao9184 fork test); f001.
pub const ANSWER_9014: &str = "\
    ##0087QN=20201015123632010;ST=91;CN=9014;PW=123456;MN=410183160889201000212505;Flag=4;\
    CP=&&&&f001";

/// Real 2005-style capture, no QN/Flag, 3-char codes, ST=31 (tonyxia2016 rx.log); 7700.
pub const RXLOG_2005_7700: &str = "\
    ##0872ST=31;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20200921174057;831-Rtd=3.128,\
    831-Flag=N;121-Rtd=3.915,121-Flag=N;023-Rtd=0.000,023-Flag=N;802-Rtd=0.000,802-Flag=N;\
    803-Rtd=0.000,803-Flag=N;808-Rtd=0.589,808-Flag=N;801-Rtd=0.349,801-Flag=N;811-Rtd=102.472,\
    811-Flag=N;810-Rtd=128.061,810-Flag=N;812-Rtd=0.000,812-Flag=N;806-Rtd=19.333,806-Flag=N;\
    039-Rtd=22.242,039-Flag=N;805-Rtd=51.768,805-Flag=N;817-Rtd=0.000,817-Flag=N;\
    a99948-Rtd=452.341,a99948-Flag=N;a99949-Rtd=130.582,a99949-Flag=N;804-Rtd=345.387,\
    804-Flag=N;040-Rtd=0.000,040-Flag=N;028-Rtd=0.000,028-Flag=N;029-Rtd=0.000,029-Flag=N;\
    030-Rtd=0.000,030-Flag=N;041-Rtd=0.000,041-Flag=N;809-Rtd=0.000,809-Flag=N;814-Rtd=3.555,\
    814-Flag=N;038-Rtd=0.000,038-Flag=N;816-Rtd=0.000,816-Flag=N;813-Rtd=0.000,813-Flag=N;\
    033-Rtd=0.000,033-Flag=N;036-Rtd=0.000,036-Flag=N;807-Rtd=0.000,807-Flag=N;815-Rtd=0.000,\
    815-Flag=N&&7700";

/// Real capture with ST=101 and vendor codes ua19004 (tonyxia2016 rx.log); 3300.
pub const RXLOG_ST101_3300: &str = "\
    ##0234ST=101;CN=2011;PW=123456;MN=41050022000017;CP=&&DataTime=20200922110000;\
    a34010-Rtd=2.017,a34010-Flag=N;a34009-Rtd=0.522,a34009-Flag=N;ua19004-Rtd=2.017,\
    ua19004-Flag=N;ua19005-Rtd=0.522,ua19005-Flag=N;ua19003-Rtd=2.539,ua19003-Flag=N&&3300";

/// Real capture carrying a byte-swapped MODBUS CRC, MN=4201003 (tonyxia2016 rx.log); A6EC.
pub const RXLOG_MODBUS_SWAPPED_0868: &str = "\
    ##0868ST=31;CN=2011;PW=123456;MN=4201003;CP=&&DataTime=20200923111707;112-Rtd=11.285,\
    112-Flag=N;121-Rtd=27.702,121-Flag=N;023-Rtd=4.372,023-Flag=N;802-Rtd=12.668,802-Flag=N;\
    803-Rtd=4.314,803-Flag=N;808-Rtd=0.000,808-Flag=N;801-Rtd=2.920,801-Flag=N;811-Rtd=266.765,\
    811-Flag=N;810-Rtd=44.881,810-Flag=N;812-Rtd=1.508,812-Flag=N;806-Rtd=10.850,806-Flag=N;\
    039-Rtd=14.531,039-Flag=N;805-Rtd=23.591,805-Flag=N;817-Rtd=1.583,817-Flag=N;\
    a99949-Rtd=786.913,a99949-Flag=N;a99948-Rtd=267.765,a99948-Flag=N;804-Rtd=140.124,\
    804-Flag=N;040-Rtd=0.000,040-Flag=N;028-Rtd=0.160,028-Flag=N;029-Rtd=4.685,029-Flag=N;\
    030-Rtd=40.235,030-Flag=N;041-Rtd=0.000,041-Flag=N;809-Rtd=1.615,809-Flag=N;814-Rtd=4.697,\
    814-Flag=N;038-Rtd=0.881,038-Flag=N;816-Rtd=1.284,816-Flag=N;813-Rtd=2.116,813-Flag=N;\
    033-Rtd=0.000,033-Flag=N;036-Rtd=0.000,036-Flag=N;807-Rtd=0.000,807-Flag=N;815-Rtd=0.721,\
    815-Flag=N&&A6EC";

/// Real capture declaring 1025 bytes (over the strict limit) with a byte-swapped MODBUS CRC
/// (tonyxia2016 rx.log); 7865.
pub const RXLOG_MODBUS_SWAPPED_1025: &str = "\
    ##1025ST=31;CN=2011;PW=123456;MN=88888880000001;CP=&&DataTime=20200923113557;112-Rtd=13.780,\
    112-Flag=N;121-Rtd=41.825,121-Flag=N;126-Rtd=20.732,126-Flag=N;127-Rtd=101.253,127-Flag=N;\
    128-Rtd=32.418,128-Flag=N;129-Rtd=0.000,129-Flag=N;130-Rtd=0.000,130-Flag=N;023-Rtd=15.238,\
    023-Flag=N;802-Rtd=304.690,802-Flag=N;803-Rtd=312.296,803-Flag=N;808-Rtd=0.743,808-Flag=N;\
    801-Rtd=15.380,801-Flag=N;811-Rtd=485.335,811-Flag=N;810-Rtd=143.269,810-Flag=N;\
    812-Rtd=5.067,812-Flag=N;806-Rtd=48.871,806-Flag=N;039-Rtd=62.235,039-Flag=N;805-Rtd=73.277,\
    805-Flag=N;817-Rtd=1.829,817-Flag=N;a99949-Rtd=2973.719,a99949-Flag=N;a99948-Rtd=618.459,\
    a99948-Flag=N;804-Rtd=414.454,804-Flag=N;040-Rtd=0.000,040-Flag=N;028-Rtd=50.803,028-Flag=N;\
    029-Rtd=19.837,029-Flag=N;030-Rtd=60.501,030-Flag=N;041-Rtd=4.109,041-Flag=N;809-Rtd=1.667,\
    809-Flag=N;814-Rtd=0.000,814-Flag=N;038-Rtd=0.000,038-Flag=N;816-Rtd=14.621,816-Flag=N;\
    813-Rtd=241.456,813-Flag=N;033-Rtd=228.298,033-Flag=N;036-Rtd=777.162,036-Flag=N;\
    807-Rtd=213.272,807-Flag=N;815-Rtd=1456.821,815-Flag=N&&7865";

/// teafull/hjt212 protocol/crc_test.go `data2` (a data segment only); HJ 212 CRC 0x5CC0.
pub const TEAFULL_DATA2: &str = "\
    QN=20200814151600001;ST=22;CN=2011;PW=123456;MN=010000A8900016F000169DC0;Flag=7;\
    CP=&&DataTime=20200814151600;LA-td=50.1,LA-Flag=N;a34004-Rtd=207,a34004-Flag=N;\
    a34002-Rtd=295,a34002-Flag=N;a01001-Rtd=12.6,a01001-Flag=N;a01002-Rtd=32,a01002-Flag=N;\
    a01006-Rtd=101.02,a01006-Flag=N;a01007-Rtd=2.1,a01007-Flag=N;a01008-Rtd=120,a01008-Flag=N;\
    a34001-Rtd=217,a34001-Flag=N;&&";

/// teafull/hjt212 protocol/crc_test.go `data3` (a data segment only, MN before PW); 0x5D80.
pub const TEAFULL_DATA3: &str = "\
    QN=20210210073530000;ST=22;CN=2011;MN=aqms-1100-2020110011;PW=123456;Flag=4;\
    CP=&&DataTime=20210210073530;a34004-Rtd=33,a34004-Flag=N;a34002-Rtd=42,a34002-Flag=N;\
    pms_rules-Rtd=7,pms_rules-Flag=N;a01001-Rtd=10,a01001-Flag=N;a01002-Rtd=73,a01002-Flag=N;\
    a01006-Rtd=102.3,a01006-Flag=N;lng-Rtd=120.32879,lng-Flag=N;lat-Rtd=31.17347,lat-Flag=N;\
    a21026-Rtd=2,a21026-Flag=N;a21004-Rtd=28,a21004-Flag=N;a05024-Rtd=58,a05024-Flag=N;\
    a21005-Rtd=0.5,a21005-Flag=N;a99054-Rtd=0.137,a99054-Flag=N;hot_t-Rtd=39.3,hot_t-Flag=N;\
    a01007-Rtd=2.2,a01007-Flag=N;a01008-Rtd=41,a01008-Flag=N;vn-Rtd=1.04,vn-Flag=N&&";
